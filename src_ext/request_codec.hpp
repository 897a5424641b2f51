// The request context as the text of the setting coditect.request, free of PostgreSQL so that
// GoogleTest covers it. The coordinator's set_request_context writes it (SET LOCAL, replayed by
// Citus on every worker connection of the transaction); a backend without a context of its own
// reads it back and runs set_request_context's checks on it (pg_context.cpp). It carries no
// authority of its own: whoever can set it could call set_request_context with the same values.
//
// Form: v1;t=<tenant uuid>;u=<user uuid>;r=<role>[;ip=..][;ua=..][;m=..][;p=..][;id=..]
// in that order, an absent field omitted (a present empty one is "ua="). Values are
// percent-encoded: every byte other than A-Z a-z 0-9 - . _ ~ / : is %XX (upper-case hex), so
// the text needs no quoting in SQL and ';' and '=' only ever separate.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coditect::context {

struct Request {
  std::array<std::uint8_t, 16> tenant{};
  std::array<std::uint8_t, 16> user{};
  std::string role;
  std::optional<std::string> client_ip;  // inet's text form
  std::optional<std::string> user_agent;
  std::optional<std::string> method;
  std::optional<std::string> path;
  std::optional<std::string> request_id;

  bool operator==(const Request& o) const {
    return tenant == o.tenant && user == o.user && role == o.role && client_ip == o.client_ip &&
           user_agent == o.user_agent && method == o.method && path == o.path &&
           request_id == o.request_id;
  }
};

// Longest text decode_request accepts (the coordinator's values are cut to 500 and 1000
// characters before encoding, at most about 18 KB).
constexpr std::size_t kMaxEncodedRequest = 32768;

std::string encode_request(const Request& request);

// Parses any byte string. On success fills *out and returns true; otherwise returns false and
// sets *error to what is wrong (no input byte is echoed). Decoded values never contain a NUL
// byte; their character encoding is the caller's to check.
bool decode_request(std::string_view text, Request* out, std::string* error);

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case.
std::string format_uuid(const std::array<std::uint8_t, 16>& uuid);
// 32 hex digits (either case) with the four dashes of the canonical form.
bool parse_uuid(std::string_view text, std::array<std::uint8_t, 16>* out);

}  // namespace coditect::context
