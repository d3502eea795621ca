// `anpr demo`: shows the product on the sample data shipped in samples/.
#include <algorithm>
#include <fstream>
#include <iostream>

#include "app/commands.h"
#include "app/hit_text.h"
#include "app/offline.h"

namespace anpr::app {

namespace {
struct DemoArgs {
  std::string samples = "samples";
};
}  // namespace

void add_demo_command(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Match the sample camera reads against the sample NL, BE and LU reference lists "
              "and print the hits for a person to read.");
  cmd->add_option("--samples", args->samples, "folder with lists/*.csv and reads.jsonl")
      ->check(CLI::ExistingDirectory);
  cmd->callback([args, &run] {
    run = [args] {
      const std::filesystem::path dir(args->samples);
      std::vector<std::filesystem::path> files;
      for (const auto& f : std::filesystem::directory_iterator(dir / "lists"))
        if (f.path().extension() == ".csv") files.push_back(f.path());
      std::sort(files.begin(), files.end());
      ListSetLoad lists = load_lists(files, std::cerr);
      if (lists.fatal) return kExitUsage;
      std::cout << "Loaded " << lists.snapshot->entry_count() << " reference entries from "
                << lists.snapshot->list_count() << " lists:\n";
      for (std::size_t l = 0; l < lists.snapshot->list_count(); ++l) {
        const ListMeta& m = lists.snapshot->list(static_cast<uint16_t>(l));
        std::cout << "  " << m.id << " (" << m.owner.str() << ", " << to_string(m.mode) << ")\n";
      }
      const std::filesystem::path reads = dir / "reads.jsonl";
      std::ifstream in(reads, std::ios::binary);
      if (!in) {
        std::cerr << reads.string() << ": cannot open\n";
        return kExitUsage;
      }
      std::cout << "\nMatching " << reads.string()
                << " (rejected reads are reported on stderr):\n\n";
      std::string out;
      auto sink = [&](const HitReadView& r, const Snapshot& s, const IndexHit& h) {
        out.clear();
        append_hit_text(out, r, s, h);
        std::cout << out << "\n\n";
      };
      std::cout.flush();
      MatchCounts c = match_stream(*lists.snapshot, in, reads.string(), sink, std::cerr);
      std::cout << c.reads << " reads, " << c.hits << " hits, " << c.rejected
                << " reads rejected.\n";
      return kExitOk;
    };
  });
}

}  // namespace anpr::app
