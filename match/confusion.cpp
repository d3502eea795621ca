#include "match/confusion.h"

namespace anpr {

namespace {
void identity(std::array<uint8_t, 37>& canon) {
  for (unsigned i = 0; i < canon.size(); ++i) canon[i] = static_cast<uint8_t>(i);
}
}  // namespace

ConfusionClasses::ConfusionClasses() {
  std::string error;
  bool ok = parse({"0ODQ", "1I", "2Z", "5S", "8B", "6G"}, *this, error);
  (void)ok;  // the defaults are valid; confusion_test checks it
}

bool ConfusionClasses::parse(const std::vector<std::string>& classes, ConfusionClasses& out,
                             std::string& error) {
  std::array<uint8_t, 37> canon{};
  identity(canon);
  std::array<bool, 37> seen{};
  for (std::size_t ci = 0; ci < classes.size(); ++ci) {
    const std::string& cls = classes[ci];
    std::string where = "class " + std::to_string(ci + 1) + " \"" + cls + "\"";
    if (cls.size() < 2) {
      error = where + ": a class needs at least two characters";
      return false;
    }
    unsigned rep = 0;
    for (char c : cls) {
      if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
        error = where + ": only A-Z and 0-9 may be in a class";
        return false;
      }
      unsigned code = Plate::code(c);
      if (seen[code]) {
        error = where + ": '" + std::string(1, c) + "' is already in a class";
        return false;
      }
      seen[code] = true;
      if (rep == 0) rep = code;
      canon[code] = static_cast<uint8_t>(rep);
    }
  }
  out.canon_ = canon;
  for (unsigned c = 0; c < 256; ++c)
    out.canon_char_[c] = canon[Plate::code(static_cast<char>(c))];
  return true;
}

std::vector<std::string> ConfusionClasses::classes() const {
  std::vector<std::string> out;
  for (unsigned rep = 1; rep <= 36; ++rep) {
    std::string cls;
    for (unsigned c = 1; c <= 36; ++c)
      if (canon_[c] == rep) cls.push_back(Plate::symbol(c));
    if (cls.size() >= 2) out.push_back(cls);
  }
  return out;
}

}  // namespace anpr
