// PG-free: the HTTP protocols an operation may speak besides JSON (catalog.hpp, Protocol):
// tus 1.0 (core, creation, checksum with sha256) for uploads, and a streamed file with Range
// for downloads. The database decides everything about the data; this is HTTP framing.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "catalog.hpp"
#include "http.hpp"

namespace coditect::gateway {

constexpr const char* kTusVersion = "1.0.0";

// Why a tus request cannot be sent on (412 without Tus-Resumable 1.0.0, 415 for a PATCH that
// is not application/offset+octet-stream): the status and detail, or nullopt.
struct ProtocolRefusal {
  int status;
  std::string detail;
  std::vector<std::pair<std::string, std::string>> headers;
};
std::optional<ProtocolRefusal> tus_refusal(const Operation& op, const HttpRequest& req);

// Headers every tus answer carries (errors included).
void add_tus_headers(HttpResponse& r);

// OPTIONS on a tus creation path: 204 with the server's capabilities.
HttpResponse tus_options(const Operation& create);

// The answer of a tus operation from the function's JSON value (the upload session):
// creation 201 with Location (public_url + the creation path + id), HEAD/GET 200 and PATCH
// 204 with Upload-Offset and Upload-Length. nullopt when the value is not a session.
std::optional<HttpResponse> tus_response(const Operation& op, const nlohmann::json& session,
                                         const std::string& public_url);

// A Range header resolved against a size (RFC 9110 section 14): one "bytes=" range only; a
// header that is not one valid range is ignored (the whole content), as the RFC allows.
struct ByteRange {
  enum class Kind { Whole, Partial, Unsatisfiable } kind = Kind::Whole;
  long long first = 0, last = -1;  // inclusive; last = -1 for empty content
};
ByteRange resolve_range(const std::optional<std::string>& header, long long size);

// The head of a streamed file: 200, 206 with Content-Range, or 416 with Content-Range
// "bytes */size"; ETag (the quoted SHA-256), Content-Type, Content-Disposition, Accept-Ranges.
// download: the decision's JSON (size, sha256, content_type, filename). nullopt when the
// value does not have that shape.
struct ContentHead {
  HttpResponse response;  // status and headers; body empty
  ByteRange range;
  long long length = 0;  // bytes of the body
};
std::optional<ContentHead> content_head(const nlohmann::json& download,
                                        const std::optional<std::string>& range_header);

// attachment; filename="ascii"; filename*=UTF-8''percent-encoded (RFC 6266 / 8187).
std::string content_disposition(const std::string& filename);

}  // namespace coditect::gateway
