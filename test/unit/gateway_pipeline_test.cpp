// The request pipeline's pure stages: match (404, 405, 413, NUL), build the call from the
// operation's params (query, body, path, If-Match), the context call, and the answer (list
// envelope, ETag, void, errors).
#include <gtest/gtest.h>

#include "catalog_fixture.hpp"
#include "pipeline.hpp"

using namespace coditect::gateway;
using nlohmann::json;

namespace {

const RouteTable& table() {
  static const RouteTable t(parse_catalog(fixture_catalog()));
  return t;
}

const std::string kId = "0190a6e5-7b1c-7cc3-9b2e-1234567890ab";

HttpRequest request(std::string method, std::string path, Params query = {},
                    std::string body = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.query = std::move(query);
  r.body = std::move(body);
  r.peer_ip = "203.0.113.5";
  r.user_agent =
      "test\x01"
      "agent";
  r.request_id = "rid-1";
  return r;
}

// build_call for a request: the planned call, or the failure's detail.
Step<PlannedCall> plan(const HttpRequest& req) {
  auto m = match_request(table(), req, 1000);
  if (failed(m)) return std::get<Failure>(m);
  TokenClaims claims;
  claims.sub = "firebase-uid";
  claims.email = std::string("claim@x.test");
  return build_call(*std::get<RouteMatch>(m).route, std::get<RouteMatch>(m), req, claims);
}

std::string detail(const Step<PlannedCall>& s) {
  return failed(s) ? std::get<Failure>(s).problem.detail : "";
}

const DbCall& call(const Step<PlannedCall>& s) { return std::get<PlannedCall>(s).call; }

using Values = std::vector<std::optional<std::string>>;

}  // namespace

TEST(GatewayPipeline, MatchFailures) {
  auto m = match_request(table(), request("GET", "/api/v1/nothing/"), 1000);
  ASSERT_TRUE(failed(m));
  EXPECT_EQ(std::get<Failure>(m).problem.status, 404);
  m = match_request(table(), request("PUT", "/api/v1/projects/"), 1000);
  ASSERT_TRUE(failed(m));
  EXPECT_EQ(std::get<Failure>(m).problem.status, 405);
  EXPECT_EQ(std::get<Failure>(m).headers,
            (std::vector<std::pair<std::string, std::string>>{{"Allow", "GET, POST"}}));
  m = match_request(table(), request("POST", "/api/v1/projects/", {}, std::string(1001, ' ')),
                    1000);
  EXPECT_EQ(std::get<Failure>(m).problem.status, 413);
  m = match_request(table(), request("GET", "/api/v1/projects%00/"), 1000);
  EXPECT_EQ(std::get<Failure>(m).problem.status, 400);
  HttpResponse r = failure_response(fail(503, "down"), "/x");
  EXPECT_EQ(r.headers, (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "1"}}));
  EXPECT_EQ(r.content_type, "application/problem+json");
}

TEST(GatewayPipeline, ListCallFromTheQuery) {
  auto s =
      plan(request("GET", "/api/v1/projects/",
                   {{"name", "Apollo"}, {"ordering", "-name"}, {"search", "moon"}, {"page", "2"}}));
  ASSERT_FALSE(failed(s)) << detail(s);
  EXPECT_EQ(call(s).statement, "projects_list");
  EXPECT_EQ(call(s).params,
            (Values{R"({"name":"Apollo"})", "2", "20", std::nullopt, "-name", "moon"}));
  // Undeclared filters reach the database, which names the allowed ones.
  s = plan(request("GET", "/api/v1/projects/", {{"owner", "x"}}));
  EXPECT_EQ(call(s).params[0], R"({"owner":"x"})");
  EXPECT_EQ(call(s).params[1], "1") << "page 1 by default";
  // Keyset by default for audit logs; page_size bounded by the resource.
  s = plan(request("GET", "/api/v1/audit-logs/"));
  EXPECT_EQ(call(s).params[1], std::nullopt);
  EXPECT_EQ(call(s).params[2], "50");
  EXPECT_NE(detail(plan(request("GET", "/api/v1/projects/", {{"page_size", "201"}})))
                .find("between 1 and 200"),
            std::string::npos);
  EXPECT_NE(detail(plan(request("GET", "/api/v1/projects/", {{"page", "1"}, {"cursor", "c"}})))
                .find("not both"),
            std::string::npos);
  EXPECT_NE(detail(plan(request("GET", "/api/v1/projects/", {{"a", "1"}, {"a", "2"}})))
                .find("more than once"),
            std::string::npos);
}

TEST(GatewayPipeline, PathParamsAreUuids) {
  auto s = plan(request("DELETE", "/api/v1/teams/" + kId + "/members/" + kId + "/"));
  ASSERT_FALSE(failed(s)) << detail(s);
  EXPECT_EQ(call(s).params, (Values{kId, kId, std::nullopt}));
  EXPECT_NE(detail(plan(request("GET", "/api/v1/projects/nope/"))).find("invalid id \"nope\""),
            std::string::npos);
}

TEST(GatewayPipeline, NonListOperationsRefuseQueryParameters) {
  EXPECT_NE(detail(plan(request("GET", "/api/v1/projects/" + kId, {{"x", "1"}})))
                .find("unknown query parameter \"x\""),
            std::string::npos);
  EXPECT_NE(detail(plan(request("GET", "/health/", {{"x", "1"}}))).find("unknown query parameter"),
            std::string::npos);
}

TEST(GatewayPipeline, BodyAndIfMatch) {
  auto req = request("PATCH", "/api/v1/projects/" + kId, {}, R"({"name": "B"})");
  req.if_match = "\"abc\"";
  auto s = plan(req);
  ASSERT_FALSE(failed(s)) << detail(s);
  EXPECT_EQ(call(s).params, (Values{kId, R"({"name": "B"})", "\"abc\""}));
  req.if_match.clear();
  EXPECT_EQ(call(plan(req)).params[2], std::nullopt);
  EXPECT_NE(detail(plan(request("POST", "/api/v1/projects/"))).find("body is required"),
            std::string::npos);
  EXPECT_NE(detail(plan(request("POST", "/api/v1/projects/", {}, "[1]"))).find("JSON object"),
            std::string::npos);
  EXPECT_NE(
      detail(plan(request("POST", "/api/v1/projects/", {}, R"({"a": "\u0000"})"))).find("NUL"),
      std::string::npos);
  std::string deep = std::string(70, '[') + std::string(70, ']');
  EXPECT_NE(detail(plan(request("POST", "/api/v1/projects/", {}, "{\"a\":" + deep + "}")))
                .find("nested too deeply"),
            std::string::npos);
}

TEST(GatewayPipeline, BodyFields) {
  auto s = plan(request("POST", "/api/v1/licenses/acquire", {},
                        R"({"key_string": "K", "hardware_id": "hw"})"));
  ASSERT_FALSE(failed(s)) << detail(s);
  EXPECT_EQ(call(s).params, (Values{"K", "hw", "203.0.113.5", "test?agent"}));
  EXPECT_NE(detail(plan(request("POST", "/api/v1/licenses/acquire", {}, R"({"key_string": "K"})")))
                .find("field \"hardware_id\" is required"),
            std::string::npos);
  EXPECT_NE(detail(plan(request("POST", "/api/v1/licenses/acquire", {},
                                R"({"key_string": "K", "hardware_id": 1})")))
                .find("must be a string"),
            std::string::npos);
  EXPECT_NE(detail(plan(request("POST", "/api/v1/licenses/acquire", {},
                                R"({"key_string": "K", "hardware_id": "h", "x": 1})")))
                .find("unknown field \"x\""),
            std::string::npos);
  EXPECT_NE(detail(plan(request("POST", "/api/v1/licenses/acquire"))).find("body is required"),
            std::string::npos);
  // also_query: the body or the query, the same value when both.
  s = plan(request("DELETE", "/api/v1/licenses/release", {{"session_id", kId}}));
  ASSERT_FALSE(failed(s)) << detail(s);
  EXPECT_EQ(call(s).params, (Values{kId}));
  s = plan(request("DELETE", "/api/v1/licenses/release", {{"session_id", kId}},
                   R"({"session_id": ")" + kId + "\"}"));
  EXPECT_FALSE(failed(s)) << detail(s);
  EXPECT_NE(detail(plan(request("DELETE", "/api/v1/licenses/release", {{"session_id", kId}},
                                R"({"session_id": "x"})")))
                .find("differs"),
            std::string::npos);
  EXPECT_NE(detail(plan(request("DELETE", "/api/v1/licenses/release")))
                .find("field \"session_id\" is required"),
            std::string::npos);
  EXPECT_NE(detail(plan(request("PUT", "/api/v1/licenses/heartbeat", {}, R"({"session_id": "x"})")))
                .find("must be a UUID"),
            std::string::npos);
}

TEST(GatewayPipeline, RegistrationTakesTheTokensSubjectAndEmail) {
  auto s = plan(request("POST", "/api/v1/auth/register", {},
                        R"({"tenant_name": "N", "tenant_slug": "n", "email": "body@x.test"})"));
  ASSERT_FALSE(failed(s)) << detail(s);
  EXPECT_EQ(call(s).params, (Values{"firebase-uid", "claim@x.test", "N", "n"}));
  EXPECT_NE(detail(plan(request("POST", "/api/v1/auth/register", {}, R"({"tenant_id": "x"})")))
                .find("unknown field"),
            std::string::npos);
}

TEST(GatewayPipeline, ContextCall) {
  TokenClaims c;
  c.sub = kId;
  c.tenant_id = kId;
  c.role = "admin";
  auto req = request("GET", "/api/v1/projects/");
  auto ctx = context_call(c, std::nullopt, req);
  ASSERT_FALSE(failed(ctx));
  EXPECT_EQ(std::get<Context>(ctx).tenant, kId);
  EXPECT_EQ(std::get<Context>(ctx).call.params,
            (Values{kId, kId, "admin", "203.0.113.5", "test?agent", "GET", "/api/v1/projects/",
                    "rid-1"}));
  c.sub = "firebase-uid";
  ctx = context_call(c, std::nullopt, req);
  ASSERT_TRUE(failed(ctx));
  EXPECT_EQ(std::get<Failure>(ctx).problem.status, 401);
  c.tenant_id.reset();
  c.role.reset();
  ctx = context_call(c, json{{"user_id", kId}, {"tenant_id", kId}, {"role", nullptr}}, req);
  ASSERT_FALSE(failed(ctx));
  EXPECT_EQ(std::get<Context>(ctx).call.params[2], "guest");
}

TEST(GatewayPipeline, Responses) {
  auto req = request("GET", "/api/v1/projects/" + kId);
  auto m = std::get<RouteMatch>(match_request(table(), req, 1000));
  PlannedCall planned;
  DbOutcome o;
  o.kind = DbOutcome::Kind::Ok;
  o.value = R"({"id": 1})";
  o.etag = "\"v1\"";
  HttpResponse r = respond(*m.route, planned, o, "", req.path);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"id": 1})");
  EXPECT_EQ(r.headers, (std::vector<std::pair<std::string, std::string>>{{"ETag", "\"v1\""}}));

  auto del = std::get<RouteMatch>(
      match_request(table(), request("DELETE", "/api/v1/projects/" + kId), 1000));
  r = respond(*del.route, planned, o, "", req.path);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.content_type.empty());

  o.kind = DbOutcome::Kind::Error;
  o.error.sqlstate = "CD412";
  o.error.message = "the row changed since it was read";
  r = respond(*del.route, planned, o, "", req.path);
  EXPECT_EQ(r.status, 412);
  EXPECT_NE(r.body.find("the row changed"), std::string::npos);

  o.kind = DbOutcome::Kind::Unavailable;
  r = respond(*del.route, planned, o, "", req.path);
  EXPECT_EQ(r.status, 503);

  auto list_req = request("GET", "/api/v1/projects/", {{"ordering", "name"}, {"page_size", "1"}});
  auto list = std::get<RouteMatch>(match_request(table(), list_req, 1000));
  auto p = plan(list_req);
  o = DbOutcome{};
  o.kind = DbOutcome::Kind::Ok;
  o.value = R"({"count": 2, "results": [{"id": 1}], "next_cursor": null})";
  r = respond(*list.route, std::get<PlannedCall>(p), o, "", list_req.path);
  json body = json::parse(r.body);
  EXPECT_EQ(body["count"], 2);
  EXPECT_EQ(body["next"], "/api/v1/projects/?ordering=name&page=2&page_size=1");
  EXPECT_TRUE(body["previous"].is_null());
}
