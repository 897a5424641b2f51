// A tiny blocking HTTP/1.1 client for the integration tests: one connection per request
// (Connection: close), or raw bytes for malformed requests.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace coditect::it {

struct HttpResult {
  int status = 0;                              // 0: no answer (connection refused, reset, timeout)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;  // with status 0: what failed (connect, send, recv and errno), for messages
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

HttpResult http_request(const std::string& host, int port, const std::string& method,
                        const std::string& target, const std::string& body = {},
                        const Headers& headers = {});
// Sends exactly these bytes and reads the answer (status 0 when none within timeout_s).
HttpResult http_raw(const std::string& host, int port, const std::string& bytes,
                    int timeout_s = 30);

}  // namespace coditect::it
