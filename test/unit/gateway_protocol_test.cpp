// The gateway's tus and file-download framing (gateway/protocol): Range resolution, the
// download head, Content-Disposition, tus refusals and answers, and header parsing.
#include "protocol.hpp"

#include <gtest/gtest.h>

#include "pipeline.hpp"

namespace coditect::gateway {
namespace {

using json = nlohmann::json;
using Kind = ByteRange::Kind;

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "<none>";
}

TEST(GatewayProtocol, RangeForms) {
  auto r = resolve_range(std::string("bytes=0-99"), 1000);
  EXPECT_EQ(r.kind, Kind::Partial);
  EXPECT_EQ(r.first, 0);
  EXPECT_EQ(r.last, 99);
  r = resolve_range(std::string("bytes=900-"), 1000);
  EXPECT_EQ(r.kind, Kind::Partial);
  EXPECT_EQ(r.first, 900);
  EXPECT_EQ(r.last, 999);
  r = resolve_range(std::string("bytes=-10"), 1000);
  EXPECT_EQ(r.first, 990);
  EXPECT_EQ(r.last, 999);
  r = resolve_range(std::string("bytes=-5000"), 1000);  // more than the file: all of it
  EXPECT_EQ(r.kind, Kind::Partial);
  EXPECT_EQ(r.first, 0);
  r = resolve_range(std::string("bytes=990-5000"), 1000);  // the end is clamped
  EXPECT_EQ(r.last, 999);
  r = resolve_range(std::string("BYTES = 5-5"), 1000);
  EXPECT_EQ(r.kind, Kind::Whole);  // "bytes=" must be adjacent
}

TEST(GatewayProtocol, RangesThatCannotBeServed) {
  EXPECT_EQ(resolve_range(std::string("bytes=1000-"), 1000).kind, Kind::Unsatisfiable);
  EXPECT_EQ(resolve_range(std::string("bytes=5000-6000"), 1000).kind, Kind::Unsatisfiable);
  EXPECT_EQ(resolve_range(std::string("bytes=-0"), 1000).kind, Kind::Unsatisfiable);
  EXPECT_EQ(resolve_range(std::string("bytes=0-"), 0).kind, Kind::Unsatisfiable);
  // Not one valid range: ignored, the whole content is served.
  for (const char* h :
       {"bytes=5-1", "bytes=a-b", "items=0-1", "bytes=0-1,5-6", "bytes=", "bytes=-"})
    EXPECT_EQ(resolve_range(std::string(h), 1000).kind, Kind::Whole) << h;
  auto whole = resolve_range(std::nullopt, 1000);
  EXPECT_EQ(whole.kind, Kind::Whole);
  EXPECT_EQ(whole.last, 999);
}

TEST(GatewayProtocol, ContentHead) {
  json d = {{"blob_id", "01a22878-5221-7513-9c40-2d12bef38fc7"},
            {"size", 1000},
            {"sha256", "ab12"},
            {"content_type", "application/pdf"},
            {"filename", "Plan \"v2\" é.pdf"},
            {"chunk_size", 1048576}};
  auto h = content_head(d, std::nullopt);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->response.status, 200);
  EXPECT_EQ(h->length, 1000);
  EXPECT_EQ(h->response.content_type, "application/pdf");
  EXPECT_EQ(header(h->response, "ETag"), "\"ab12\"");
  EXPECT_EQ(header(h->response, "Accept-Ranges"), "bytes");
  EXPECT_EQ(header(h->response, "Content-Range"), "<none>");
  EXPECT_EQ(
      header(h->response, "Content-Disposition"),
      "attachment; filename=\"Plan _v2_ __.pdf\"; filename*=UTF-8''Plan%20%22v2%22%20%C3%A9.pdf");
  h = content_head(d, std::string("bytes=10-19"));
  EXPECT_EQ(h->response.status, 206);
  EXPECT_EQ(h->length, 10);
  EXPECT_EQ(header(h->response, "Content-Range"), "bytes 10-19/1000");
  h = content_head(d, std::string("bytes=2000-"));
  EXPECT_EQ(h->response.status, 416);
  EXPECT_EQ(header(h->response, "Content-Range"), "bytes */1000");
  EXPECT_FALSE(content_head(json{{"size", 1}}, std::nullopt).has_value());
  EXPECT_EQ(content_disposition(""), "attachment");
}

Operation tus_op(Protocol p, const std::string& path) {
  Operation op;
  op.protocol = p;
  op.path = path;
  op.max_size = 1073741824;
  return op;
}

HttpRequest with_headers(std::vector<std::pair<std::string, std::string>> h) {
  HttpRequest r;
  r.headers = std::move(h);
  return r;
}

TEST(GatewayProtocol, TusRefusals) {
  auto create = tus_op(Protocol::TusCreate, "/api/v1/uploads/");
  auto append = tus_op(Protocol::TusAppend, "/api/v1/uploads/{id}");
  auto r = tus_refusal(create, with_headers({}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 412);
  EXPECT_EQ(r->headers.at(0).second, "1.0.0");
  EXPECT_EQ(tus_refusal(create, with_headers({{"tus-resumable", "0.2.2"}}))->status, 412);
  EXPECT_FALSE(tus_refusal(create, with_headers({{"tus-resumable", "1.0.0"}})).has_value());
  EXPECT_EQ(tus_refusal(append, with_headers({{"tus-resumable", "1.0.0"}}))->status, 415);
  EXPECT_EQ(tus_refusal(append, with_headers({{"tus-resumable", "1.0.0"},
                                              {"content-type", "application/json"}}))
                ->status,
            415);
  EXPECT_FALSE(
      tus_refusal(append, with_headers({{"tus-resumable", "1.0.0"},
                                        {"content-type", "Application/Offset+Octet-Stream"}}))
          .has_value());
  EXPECT_FALSE(tus_refusal(tus_op(Protocol::Json, "/x"), with_headers({})).has_value());
}

TEST(GatewayProtocol, TusAnswers) {
  json s = {
      {"id", "0190aaaa-0000-7000-8000-000000000001"}, {"upload_offset", 5}, {"upload_length", 10}};
  auto c = tus_response(tus_op(Protocol::TusCreate, "/api/v1/uploads/"), s, "https://x.test");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->status, 201);
  EXPECT_EQ(header(*c, "Location"),
            "https://x.test/api/v1/uploads/0190aaaa-0000-7000-8000-000000000001");
  EXPECT_EQ(header(*c, "Tus-Resumable"), "1.0.0");
  auto h = tus_response(tus_op(Protocol::TusStatus, "/api/v1/uploads/{id}"), s, "");
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(header(*h, "Upload-Offset"), "5");
  EXPECT_EQ(header(*h, "Upload-Length"), "10");
  EXPECT_EQ(header(*h, "Cache-Control"), "no-store");
  auto p = tus_response(tus_op(Protocol::TusAppend, "/api/v1/uploads/{id}"), s, "");
  EXPECT_EQ(p->status, 204);
  EXPECT_EQ(header(*p, "Upload-Offset"), "5");
  EXPECT_TRUE(p->body.empty());
  EXPECT_FALSE(tus_response(tus_op(Protocol::TusAppend, "/x"), json{{"id", 1}}, "").has_value());
  auto o = tus_options(tus_op(Protocol::TusCreate, "/api/v1/uploads/"));
  EXPECT_EQ(o.status, 204);
  EXPECT_EQ(header(o, "Tus-Max-Size"), "1073741824");
  EXPECT_EQ(header(o, "Tus-Extension"), "creation,checksum");
  EXPECT_EQ(header(o, "Tus-Checksum-Algorithm"), "sha256");
}

TEST(GatewayProtocol, HeadFields) {
  auto f = head_fields(
      "PATCH /api/v1/uploads/x HTTP/1.1\r\nUpload-Offset:  42 \r\nbad line\r\nTus-Resumable: "
      "1.0.0\r\n\r\n");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].first, "upload-offset");
  EXPECT_EQ(f[0].second, "42");
  HttpRequest r;
  r.headers = f;
  EXPECT_EQ(r.header("Tus-Resumable").value_or(""), "1.0.0");
  EXPECT_FALSE(r.header("Upload-Length").has_value());
}

}  // namespace
}  // namespace coditect::gateway
