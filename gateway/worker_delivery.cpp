#include "worker_delivery.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "webhook_signature.hpp"

namespace coditect::worker {

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

}  // namespace

std::string Url::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
  return h;
}

std::optional<Url> parse_url(const std::string& url) {
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f) return std::nullopt;
  size_t sep = url.find("://");
  if (sep == std::string::npos) return std::nullopt;
  Url u;
  std::string scheme = lower(url.substr(0, sep));
  if (scheme == "https")
    u.tls = true;
  else if (scheme != "http")
    return std::nullopt;
  std::string rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find('#'));
  size_t end = rest.find_first_of("/?");
  std::string authority = rest.substr(0, end);
  u.target = end == std::string::npos ? "/" : rest.substr(end);
  if (u.target[0] == '?') u.target = "/" + u.target;
  if (authority.find('@') != std::string::npos) return std::nullopt;
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    u.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
  }
  if (u.host.empty()) return std::nullopt;
  u.port = u.tls ? 443 : 80;
  if (!port.empty()) {
    if (!all_digits(port) || port.size() > 5) return std::nullopt;
    u.port = std::stoi(port);
    if (u.port < 1 || u.port > 65535) return std::nullopt;
  }
  return u;
}

std::string delivery_body(const Delivery& d) {
  // ordered_json: the fields in the documented order, the payload's keys in its own.
  nlohmann::ordered_json data = nlohmann::ordered_json::parse(d.payload, nullptr, false);
  if (!data.is_object()) throw std::invalid_argument("the delivery's payload is not a JSON object");
  nlohmann::ordered_json body = {{"id", d.id},
                                 {"event", d.event},
                                 {"tenant_id", d.tenant_id},
                                 {"created_at", d.created_at},
                                 {"data", std::move(data)}};
  return body.dump();
}

std::string build_request(const Url& url, const Delivery& d, const std::string& body,
                          long long unix_seconds, const std::string& user_agent) {
  std::string r;
  r.reserve(body.size() + 512);
  r += "POST " + url.target + " HTTP/1.1\r\n";
  r += "Host: " + url.host_header() + "\r\n";
  r += "User-Agent: " + user_agent + "\r\n";
  r += "Content-Type: application/json\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "Idempotency-Key: " + d.id + "\r\n";
  r += "Coditect-Event: " + d.event + "\r\n";
  r += "Coditect-Signature: " + coditect::webhook::sign(d.secret, unix_seconds, body) + "\r\n";
  r += "Connection: close\r\n\r\n";
  r += body;
  return r;
}

std::optional<int> parse_status_line(const std::string& response) {
  size_t eol = response.find("\r\n");
  if (eol == std::string::npos) return std::nullopt;
  std::string line = response.substr(0, eol);
  // "HTTP/1.x " then three digits, then the end or a space.
  if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[7] < '0' || line[7] > '9' ||
      line[8] != ' ')
    return std::nullopt;
  std::string code = line.substr(9, 3);
  if (!all_digits(code) || (line.size() > 12 && line[12] != ' ')) return std::nullopt;
  int status = std::stoi(code);
  if (status < 100 || status > 599) return std::nullopt;
  return status;
}

double backoff_seconds(int attempts, double base_seconds, double max_seconds, double random01) {
  if (attempts < 1) attempts = 1;
  random01 = std::clamp(random01, 0.0, 1.0);
  // 2^(attempts-1) overflows nothing: the exponent is capped long before a double would.
  double d = base_seconds * std::pow(2.0, std::min(attempts - 1, 60));
  d = std::min(d, max_seconds);
  return d / 2 + d / 2 * random01;
}

namespace {

bool private_v4(std::uint32_t a) {  // host byte order
  auto in = [a](std::uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
  return in(0x00000000, 8) || in(0x0A000000, 8) || in(0x64400000, 10) || in(0x7F000000, 8) ||
         in(0xA9FE0000, 16) || in(0xAC100000, 12) || in(0xC0A80000, 16);
}

}  // namespace

bool is_private_address(const struct sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    return private_v4(ntohl(v4->sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    const unsigned char* b = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr;
    bool zero10 = true;
    for (int i = 0; i < 10; ++i) zero10 = zero10 && b[i] == 0;
    if (zero10 && b[10] == 0xff && b[11] == 0xff) {  // ::ffff:a.b.c.d
      return private_v4((std::uint32_t(b[12]) << 24) | (std::uint32_t(b[13]) << 16) |
                        (std::uint32_t(b[14]) << 8) | b[15]);
    }
    bool zero15 = zero10 && b[10] == 0 && b[11] == 0 && b[12] == 0 && b[13] == 0 && b[14] == 0;
    if (zero15 && (b[15] == 0 || b[15] == 1)) return true;   // :: and ::1
    if ((b[0] & 0xfe) == 0xfc) return true;                  // fc00::/7
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;  // fe80::/10
    return false;
  }
  return true;  // not an internet address at all
}

}  // namespace coditect::worker
