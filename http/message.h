// The requests and answers the HTTP server (http/server.h) hands to its handlers.
//
// A Request is complete when a handler sees it: the path is decoded, `matches` holds the route's
// regular-expression groups ([0] the whole path), `params` the decoded query, `body` the whole
// body (at most the route's limit), and a multipart/form-data body is already split into its
// parts (http/multipart.h; a malformed one was answered 400 before the handler ran).
//
// A Response is either a whole body (set_content) or a stream (set_chunked_content_provider): the
// server then calls the provider again and again on a thread of its own (never one of the
// workers that answer ordinary requests) until it returns false, calls sink.done(), the client
// goes away or the server stops; `on_done` runs once at the end in every case.
//
// Thread safety: a Request and its Response belong to one handler call.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace anpr::http {

// One part of a multipart/form-data body.
struct FormPart {
  std::string name, content, filename, content_type;
};

// Header names compare case-insensitively.
bool header_name_equal(std::string_view a, std::string_view b);

class Request {
 public:
  std::string method, path, body;
  std::string remote_addr;  // the client's IP address
  std::vector<std::string> matches;
  std::vector<std::pair<std::string, std::string>> headers;  // in the order received
  std::vector<std::pair<std::string, std::string>> params;   // decoded query
  std::vector<FormPart> parts;                                // multipart/form-data
  bool multipart = false;

  bool has_header(std::string_view name) const;
  // The first value of the header, "" when absent.
  std::string get_header_value(std::string_view name) const;
  bool has_param(std::string_view name) const;
  std::string get_param_value(std::string_view name) const;
  bool is_multipart_form_data() const { return multipart; }
  bool has_file(std::string_view name) const;
  // The first part of that name (an empty part when none).
  FormPart get_file_value(std::string_view name) const;
};

// What a stream provider writes to.
class DataSink {
 public:
  virtual ~DataSink() = default;
  // Sends the bytes as one chunk; false when the client is gone (then stop).
  virtual bool write(const char* data, std::size_t size) = 0;
  // False once the client has gone away or the server is stopping.
  virtual bool is_writable() const = 0;
  // Ends the stream after what was written.
  virtual void done() = 0;
};

using ContentProvider = std::function<bool(std::size_t offset, DataSink& sink)>;
using ContentProviderDone = std::function<void(bool success)>;

class Response {
 public:
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  ContentProvider provider;        // set: a stream
  ContentProviderDone provider_done;

  // Replaces a header of that name, or adds it.
  void set_header(std::string_view name, std::string_view value);
  std::string get_header_value(std::string_view name) const;
  bool has_header(std::string_view name) const;
  void set_content(std::string content, std::string_view content_type);
  void set_chunked_content_provider(std::string_view content_type, ContentProvider p,
                                    ContentProviderDone done = {});
};

// Percent-decoding; `plus_is_space` for query strings. Invalid escapes are kept as they are.
std::string url_decode(std::string_view s, bool plus_is_space);
// Splits "a=1&b=x%20y" into decoded pairs.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

}  // namespace anpr::http
