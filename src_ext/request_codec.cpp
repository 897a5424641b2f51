#include "request_codec.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace coditect::context {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";
constexpr char kHexLower[] = "0123456789abcdef";

bool kept_verbatim(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '/' || c == ':';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_encoded(std::string* out, std::string_view value) {
  for (unsigned char c : value) {
    if (kept_verbatim(c)) {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

bool percent_decode(std::string_view in, std::string* out, std::string* error) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '%') {
      if (i + 2 >= in.size()) {
        *error = "truncated %-escape";
        return false;
      }
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) {
        *error = "invalid %-escape";
        return false;
      }
      const int byte = hi * 16 + lo;
      if (byte == 0) {
        *error = "a value contains a NUL byte";
        return false;
      }
      out->push_back(static_cast<char>(byte));
      i += 2;
    } else if (kept_verbatim(c)) {
      out->push_back(static_cast<char>(c));
    } else {
      *error = "a value contains a byte that must be %-escaped";
      return false;
    }
  }
  return true;
}

// An inet's text form: an IPv4 or IPv6 address, optionally /bits within its length.
bool valid_inet(const std::string& text) {
  const std::size_t slash = text.find('/');
  const std::string address = text.substr(0, slash);
  unsigned char buf[16];
  int max_bits;
  if (inet_pton(AF_INET, address.c_str(), buf) == 1) {
    max_bits = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), buf) == 1) {
    max_bits = 128;
  } else {
    return false;
  }
  if (slash == std::string::npos) return true;
  const std::string bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return false;
  int n = 0;
  for (char c : bits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n <= max_bits;
}

struct Field {
  const char* key;
  bool required;
};
// In the order they are written.
constexpr Field kFields[] = {{"t", true},   {"u", true},  {"r", true},  {"ip", false},
                             {"ua", false}, {"m", false}, {"p", false}, {"id", false}};
constexpr int kFieldCount = sizeof kFields / sizeof kFields[0];

}  // namespace

std::string format_uuid(const std::array<std::uint8_t, 16>& uuid) {
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHexLower[uuid[i] >> 4]);
    out.push_back(kHexLower[uuid[i] & 15]);
  }
  return out;
}

bool parse_uuid(std::string_view text, std::array<std::uint8_t, 16>* out) {
  if (text.size() != 36) return false;
  std::size_t pos = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      if (text[pos] != '-') return false;
      ++pos;
    }
    const int hi = hex_value(text[pos]);
    const int lo = hex_value(text[pos + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    pos += 2;
  }
  return true;
}

std::string encode_request(const Request& request) {
  std::string out = "v1;t=" + format_uuid(request.tenant) + ";u=" + format_uuid(request.user);
  out += ";r=";
  append_encoded(&out, request.role);
  const std::optional<std::string>* optional[] = {
      &request.client_ip, &request.user_agent, &request.method, &request.path, &request.request_id};
  for (int i = 0; i < 5; ++i) {
    if (!optional[i]->has_value()) continue;
    out += ';';
    out += kFields[3 + i].key;
    out += '=';
    append_encoded(&out, **optional[i]);
  }
  return out;
}

bool decode_request(std::string_view text, Request* out, std::string* error) {
  if (text.size() > kMaxEncodedRequest) {
    *error = "longer than " + std::to_string(kMaxEncodedRequest) + " bytes";
    return false;
  }
  if (text.substr(0, 3) != "v1;") {
    *error = "not a version 1 request (expected \"v1;\" first)";
    return false;
  }
  Request request;
  std::optional<std::string>* optional[] = {&request.client_ip, &request.user_agent,
                                            &request.method, &request.path, &request.request_id};
  std::string_view rest = text.substr(3);
  int next = 0;  // index in kFields of the first field that may still come
  std::string value;
  while (true) {
    const std::size_t end = rest.find(';');
    const std::string_view item = rest.substr(0, end);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      *error = "a field has no '='";
      return false;
    }
    const std::string_view key = item.substr(0, eq);
    int field = next;
    while (field < kFieldCount && key != kFields[field].key) {
      if (kFields[field].required) {
        *error = std::string("field ") + kFields[field].key + " is missing";
        return false;
      }
      ++field;
    }
    if (field == kFieldCount) {
      *error = "unknown, repeated or misplaced field";
      return false;
    }
    if (!percent_decode(item.substr(eq + 1), &value, error)) return false;
    switch (field) {
      case 0:
      case 1:
        if (!parse_uuid(value, field == 0 ? &request.tenant : &request.user)) {
          *error = std::string(field == 0 ? "tenant" : "user") + " is not a uuid";
          return false;
        }
        break;
      case 2:
        request.role = value;
        break;
      case 3:
        if (!valid_inet(value)) {
          *error = "ip is not an IP address";
          return false;
        }
        [[fallthrough]];
      default:
        *optional[field - 3] = value;
        break;
    }
    next = field + 1;
    if (end == std::string_view::npos) break;
    rest = rest.substr(end + 1);
  }
  if (next < 3) {
    *error = std::string("field ") + kFields[next].key + " is missing";
    return false;
  }
  *out = std::move(request);
  return true;
}

}  // namespace coditect::context
