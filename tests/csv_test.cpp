#include "ingest/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace anpr {
namespace {

using namespace std::string_literals;

// Runs the reader over `data` and renders everything it returns on one line:
//   a record as   <line>[f1|f2|...]
//   an error as   <line>!<code>@<line>:<column>#<field>
// separated by spaces. Control bytes in fields print as \r, \n, \0.
std::string run(std::string_view data, CsvOptions opt = {}) {
  CsvReader r(data, opt);
  std::vector<std::string_view> fields;
  CsvError err;
  std::string out;
  std::size_t prev_line = 0;
  for (int guard = 0; guard < 1000; ++guard) {
    const CsvStatus st = r.next(fields, err);
    if (st == CsvStatus::end) return out;
    EXPECT_GT(r.line(), prev_line) << "record lines must increase";
    prev_line = r.line();
    if (!out.empty()) out += ' ';
    out += std::to_string(r.line());
    if (st == CsvStatus::error) {
      out += '!' + std::string(to_string(err.code)) + '@' + std::to_string(err.line) + ':' +
             std::to_string(err.column) + '#' + std::to_string(err.field);
      continue;
    }
    out += '[';
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) out += '|';
      for (char c : fields[i]) {
        if (c == '\r')
          out += "\\r";
        else if (c == '\n')
          out += "\\n";
        else if (c == '\0')
          out += "\\0";
        else
          out += c;
      }
    }
    out += ']';
  }
  ADD_FAILURE() << "reader does not terminate";
  return out;
}

struct Case {
  std::string name;
  std::string input;
  std::string want;
};

TEST(CsvReader, Table) {
  const std::vector<Case> cases = {
      {"empty", "", ""},
      {"only newlines", "\n\n\r\n", ""},
      {"one field", "a", "1[a]"},
      {"lf", "a,b,c\nd,e,f\n", "1[a|b|c] 2[d|e|f]"},
      {"crlf", "a,b\r\nc,d\r\n", "1[a|b] 2[c|d]"},
      {"no final newline", "a,b\nc,d", "1[a|b] 2[c|d]"},
      {"empty fields", ",,\n,", "1[||] 2[|]"},
      {"trailing comma", "a,\n", "1[a|]"},
      {"blank lines skipped, counted", "a\n\n\nb\r\n\r\nc", "1[a] 4[b] 6[c]"},
      {"spaces kept", " a , b \n", "1[ a | b ]"},
      {"bom", "\xEF\xBB\xBFplate,ref\nAB12CD,1\n", "1[plate|ref] 2[AB12CD|1]"},
      {"bom only", "\xEF\xBB\xBF", ""},
      {"bom not at start is data", "a,\xEF\xBB\xBF\n", "1[a|\xEF\xBB\xBF]"},
      {"utf8 kept", "\xD0\x90\xD0\x92-123,\xE2\x82\xAC\n", "1[\xD0\x90\xD0\x92-123|\xE2\x82\xAC]"},
      {"quoted", "\"a\",\"b c\"\n", "1[a|b c]"},
      {"quoted empty", "\"\"\n\"\",\"\"", "1[] 2[|]"},
      {"quoted comma", "\"a,b\",c\n", "1[a,b|c]"},
      {"quoted escapes", "\"say \"\"hi\"\"\",x\n", "1[say \"hi\"|x]"},
      {"only escaped quote", "\"\"\"\"\n", "1[\"]"},
      {"quoted newline counts lines", "\"a\nb\",c\nd\n", "1[a\\nb|c] 3[d]"},
      {"quoted crlf kept", "\"a\r\nb\"\r\nz", "1[a\\r\\nb] 3[z]"},
      {"quoted cr kept", "\"a\rb\"\n", "1[a\\rb]"},
      {"quoted at eof", "x,\"y\"", "1[x|y]"},
      {"many escapes", "\"\"\"a\"\"b\"\"\",\"c\"\"\"\n", "1[\"a\"b\"|c\"]"},
      {"unterminated at eof", "a,b\nc,\"d\n", "1[a|b] 2!unterminated_quote@2:3#1"},
      {"unterminated swallows rest", "\"a\nb,c\nd\n", "1!unterminated_quote@1:1#0"},
      {"lone quote", "\"", "1!unterminated_quote@1:1#0"},
      {"garbage after quote", "\"a\"b,c\nok\n", "1!garbage_after_quote@1:4#0 2[ok]"},
      {"space after quote", "x,\"a\" ,c\r\nok\r\n", "1!garbage_after_quote@1:6#1 2[ok]"},
      {"garbage after quote crlf", "\"a\"\"\"x\r\nok", "1!garbage_after_quote@1:6#0 2[ok]"},
      {"quote in unquoted", "ab\"c,d\nok\n", "1!quote_in_unquoted_field@1:3#0 2[ok]"},
      {"nul unquoted", "a,b\0c\nok\n"s, "1!nul_byte@1:4#1 2[ok]"},
      {"nul quoted", "a\n\"x\ny\0\"\nok"s, "1[a] 2!nul_byte@3:2#0 4[ok]"},
      {"nul alone", "\0"s, "1!nul_byte@1:1#0"},
      {"bare cr", "a\rb,c\nok\n", "1!bare_cr@1:2#0 2[ok]"},
      {"bare cr at eof", "a\r", "1!bare_cr@1:2#0"},
      {"utf16 le", "p\0l\0a\0t\0e\0\n\0"s, "1!nul_byte@1:2#0 2!nul_byte@2:1#0"},
      {"first error wins", "a\"\0\r\n", "1!quote_in_unquoted_field@1:2#0"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(run(c.input), c.want);
  }
}

TEST(CsvReader, Limits) {
  CsvOptions opt;
  opt.max_field_bytes = 4;
  opt.max_fields = 3;
  EXPECT_EQ(run("abcd,\"wxyz\"\n", opt), "1[abcd|wxyz]");
  EXPECT_EQ(run("abcde,x\nok\n", opt), "1!field_too_long@1:1#0 2[ok]");
  EXPECT_EQ(run("x,\"ab\ncde\"\nok\n", opt), "1!field_too_long@1:3#1 3[ok]");
  EXPECT_EQ(run("\"a\"\"b\"\"c\"\nok\n", opt), "1!field_too_long@1:1#0 2[ok]");
  EXPECT_EQ(run("a,b,c\na,b,c,d\nok\n", opt), "1[a|b|c] 2!too_many_fields@2:7#3 3[ok]");

  // The default limit is 64 KiB per field.
  const std::string big(64 * 1024, 'x');
  EXPECT_EQ(run(big + "\n").size(), big.size() + 3);
  EXPECT_EQ(run(big + "y\nok"), "1!field_too_long@1:1#0 2[ok]");
  EXPECT_EQ(run("\"" + big + "\"\n").size(), big.size() + 3);
  EXPECT_EQ(run("\"" + big + "\"\"\"\nok"), "1!field_too_long@1:1#0 2[ok]");
}

TEST(CsvReader, BlankLinesCanBeRecords) {
  CsvOptions opt;
  opt.skip_blank_lines = false;
  EXPECT_EQ(run("a\n\nb\n", opt), "1[a] 2[] 3[b]");
}

TEST(CsvReader, UnquotedFieldsAreViewsIntoTheInput) {
  const std::string data = "AB12CD,\"quoted\",\"es\"\"caped\"\n";
  CsvReader r(data);
  std::vector<std::string_view> f;
  CsvError err;
  ASSERT_EQ(r.next(f, err), CsvStatus::record);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].data(), data.data());
  EXPECT_EQ(f[1].data(), data.data() + 8);  // no escapes: still a view
  EXPECT_EQ(f[2], "es\"caped");
  EXPECT_EQ(r.next(f, err), CsvStatus::end);
  EXPECT_EQ(r.next(f, err), CsvStatus::end);
}

TEST(CsvReader, MessagesSayWhereAndWhat) {
  CsvReader r("a,\"b\"c\n");
  std::vector<std::string_view> f;
  CsvError err;
  ASSERT_EQ(r.next(f, err), CsvStatus::error);
  EXPECT_EQ(err.message(),
            "unexpected 'c' after the closing quote at line 1 column 6: expected ',' or the end "
            "of the line (write \"\" for a quote inside a quoted field)");
  CsvReader r2("x\n\"abc\n");
  ASSERT_EQ(r2.next(f, err), CsvStatus::record);
  ASSERT_EQ(r2.next(f, err), CsvStatus::error);
  EXPECT_EQ(err.message(),
            "quoted field opened at line 2 column 1 is never closed: expected a closing '\"' "
            "before the end of the file");
}

}  // namespace
}  // namespace anpr
