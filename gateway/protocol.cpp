#include "protocol.hpp"

#include <strings.h>

namespace coditect::gateway {

namespace {

using json = nlohmann::json;

std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(0, 1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

std::optional<long long> digits(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string number(const json& v) {
  return v.is_number_integer() ? std::to_string(v.get<long long>()) : std::string();
}

}  // namespace

std::optional<ProtocolRefusal> tus_refusal(const Operation& op, const HttpRequest& req) {
  if (op.protocol != Protocol::TusCreate && op.protocol != Protocol::TusStatus &&
      op.protocol != Protocol::TusAppend)
    return std::nullopt;
  auto version = req.header("Tus-Resumable");
  if (!version || trim(*version) != kTusVersion)
    return ProtocolRefusal{412,
                           "Tus-Resumable: 1.0.0 is required (the only version served)",
                           {{"Tus-Version", kTusVersion}}};
  if (op.protocol == Protocol::TusAppend) {
    auto type = req.header("Content-Type");
    std::string t = type ? trim(type->substr(0, type->find(';'))) : std::string();
    if (strcasecmp(t.c_str(), "application/offset+octet-stream") != 0)
      return ProtocolRefusal{
          415, "an upload's bytes are sent as application/offset+octet-stream", {}};
  }
  return std::nullopt;
}

void add_tus_headers(HttpResponse& r) {
  r.headers.emplace_back("Tus-Resumable", kTusVersion);
  r.headers.emplace_back("Cache-Control", "no-store");
}

HttpResponse tus_options(const Operation& create) {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  r.headers = {{"Tus-Resumable", kTusVersion},
               {"Tus-Version", kTusVersion},
               {"Tus-Extension", "creation,checksum"},
               {"Tus-Max-Size", std::to_string(create.max_size)},
               {"Tus-Checksum-Algorithm", "sha256"}};
  return r;
}

std::optional<HttpResponse> tus_response(const Operation& op, const json& s,
                                         const std::string& public_url) {
  if (!s.is_object() || !s.contains("id") || !s["id"].is_string()) return std::nullopt;
  std::string offset = number(s.value("upload_offset", json())),
              length = number(s.value("upload_length", json()));
  if (offset.empty() || length.empty()) return std::nullopt;
  HttpResponse r;
  r.content_type.clear();
  add_tus_headers(r);
  switch (op.protocol) {
    case Protocol::TusCreate: {
      r.status = 201;
      std::string base = op.path;
      if (base.empty() || base.back() != '/') base.push_back('/');
      r.headers.emplace_back("Location", public_url + base + s["id"].get<std::string>());
      r.headers.emplace_back("Upload-Offset", offset);
      r.content_type = "application/json";
      r.body = s.dump();
      break;
    }
    case Protocol::TusStatus:
      r.status = 200;
      r.headers.emplace_back("Upload-Offset", offset);
      r.headers.emplace_back("Upload-Length", length);
      break;
    case Protocol::TusAppend:
      r.status = 204;
      r.headers.emplace_back("Upload-Offset", offset);
      break;
    default:
      return std::nullopt;
  }
  return r;
}

ByteRange resolve_range(const std::optional<std::string>& header, long long size) {
  ByteRange whole;
  whole.kind = ByteRange::Kind::Whole;
  whole.first = 0;
  whole.last = size - 1;
  if (!header) return whole;
  std::string h = trim(*header);
  if (h.size() < 6 || strncasecmp(h.c_str(), "bytes=", 6) != 0) return whole;
  std::string spec = trim(h.substr(6));
  if (spec.find(',') != std::string::npos) return whole;  // several ranges: served whole
  size_t dash = spec.find('-');
  if (dash == std::string::npos) return whole;
  std::string a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
  ByteRange r;
  r.kind = ByteRange::Kind::Partial;
  if (a.empty()) {  // the last b bytes
    auto n = digits(b);
    if (!n) return whole;
    if (*n == 0 || size == 0) return ByteRange{ByteRange::Kind::Unsatisfiable, 0, -1};
    r.first = *n >= size ? 0 : size - *n;
    r.last = size - 1;
    return r;
  }
  auto first = digits(a);
  if (!first) return whole;
  std::optional<long long> last;
  if (!b.empty()) {
    last = digits(b);
    if (!last || *last < *first) return whole;  // an invalid range is ignored
  }
  if (*first >= size) return ByteRange{ByteRange::Kind::Unsatisfiable, 0, -1};
  r.first = *first;
  r.last = last && *last < size ? *last : size - 1;
  return r;
}

std::string content_disposition(const std::string& filename) {
  if (filename.empty()) return "attachment";
  std::string ascii, encoded;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : filename) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_' || c == '~';
    ascii.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? static_cast<char>(c) : '_');
    if (plain) {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(hex[c >> 4]);
      encoded.push_back(hex[c & 15]);
    }
  }
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

std::optional<ContentHead> content_head(const json& d,
                                        const std::optional<std::string>& range_header) {
  if (!d.is_object() || !d.contains("size") || !d["size"].is_number_integer() ||
      !d.contains("sha256") || !d["sha256"].is_string() || !d.contains("blob_id") ||
      !d["blob_id"].is_string())
    return std::nullopt;
  long long size = d["size"].get<long long>();
  if (size < 0) return std::nullopt;
  ContentHead h;
  h.range = resolve_range(range_header, size);
  HttpResponse& r = h.response;
  r.content_type = d.value("content_type", json()).is_string()
                       ? d["content_type"].get<std::string>()
                       : "application/octet-stream";
  r.headers.emplace_back("ETag", "\"" + d["sha256"].get<std::string>() + "\"");
  r.headers.emplace_back("Accept-Ranges", "bytes");
  std::string filename =
      d.value("filename", json()).is_string() ? d["filename"].get<std::string>() : std::string();
  r.headers.emplace_back("Content-Disposition", content_disposition(filename));
  switch (h.range.kind) {
    case ByteRange::Kind::Whole:
      r.status = 200;
      h.length = size;
      break;
    case ByteRange::Kind::Partial:
      r.status = 206;
      h.length = h.range.last - h.range.first + 1;
      r.headers.emplace_back("Content-Range", "bytes " + std::to_string(h.range.first) + "-" +
                                                  std::to_string(h.range.last) + "/" +
                                                  std::to_string(size));
      break;
    case ByteRange::Kind::Unsatisfiable:
      r.status = 416;
      h.length = 0;
      r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
      break;
  }
  return h;
}

}  // namespace coditect::gateway
