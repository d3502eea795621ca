// `anpr match`: check a batch of camera reads against reference list files, offline.
#include <fstream>
#include <iostream>

#include "app/commands.h"
#include "app/hit_text.h"
#include "app/offline.h"

namespace anpr::app {

namespace {
struct MatchArgs {
  std::vector<std::string> lists;
  std::string reads;
  std::string format = "json";
};
}  // namespace

void add_match_command(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<MatchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "match",
      "Match camera reads (JSON Lines) against reference lists (CSV + TOML sidecar).\n"
      "Writes one hit per line to stdout; rejected reads and list rows go to stderr.\n"
      "Exit code: 0 all input accepted, 1 some input rejected, 2 usage error or a list that\n"
      "cannot be loaded.");
  cmd->add_option("--list", args->lists, "reference list CSV file (its .toml sidecar beside it)")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--reads", args->reads, "camera reads, one JSON object per line ('-' = stdin)")
      ->required();
  cmd->add_option("--format", args->format, "hit output: json (one object per line) or text")
      ->check(CLI::IsMember({"json", "text"}));
  cmd->callback([args, &run] {
    run = [args] {
      std::vector<std::filesystem::path> files(args->lists.begin(), args->lists.end());
      ListSetLoad lists = load_lists(files, std::cerr);
      if (lists.fatal) {
        std::cerr << "anpr match: a reference list could not be loaded; nothing was matched\n";
        return kExitUsage;
      }
      std::ifstream file;
      std::istream* in = &std::cin;
      std::string source = "stdin";
      if (args->reads != "-") {
        file.open(args->reads, std::ios::binary);
        if (!file) {
          std::cerr << args->reads << ": cannot open the reads file\n";
          return kExitUsage;
        }
        in = &file;
        source = args->reads;
      }
      std::string out;
      const bool text = args->format == "text";
      auto sink = [&](const HitReadView& r, const Snapshot& s, const IndexHit& h) {
        out.clear();
        if (text) {
          append_hit_text(out, r, s, h);
        } else {
          append_hit_json(out, r, s, h);
        }
        out.push_back('\n');
        std::cout << out;
      };
      MatchCounts c = match_stream(*lists.snapshot, *in, source, sink, std::cerr);
      std::cout.flush();
      std::cerr << "anpr match: " << c.reads << " reads, " << c.hits << " hits, " << c.rejected
                << " reads rejected; " << lists.snapshot->entry_count() << " entries in "
                << lists.snapshot->list_count() << " lists, " << lists.rejected_rows
                << " list rows rejected\n";
      return (c.rejected > 0 || lists.rejected_rows > 0) ? kExitRejected : kExitOk;
    };
  });
}

}  // namespace anpr::app
