// The gateway's part of idempotency keys: which requests take a key, the key's form, the
// request's fingerprint, the calls' parameters, the claim's "taken" refusal and the replay.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "idempotency.hpp"

using namespace coditect::gateway;

namespace {

Operation op(Auth auth = Auth::Bearer) {
  Operation o;
  o.method = "POST";
  o.path = "/api/v1/projects/";
  o.auth = auth;
  return o;
}

HttpRequest post(std::optional<std::string> key, std::string body = R"({"name":"a"})") {
  HttpRequest r;
  r.method = "POST";
  r.path = "/api/v1/projects/";
  r.body = std::move(body);
  if (key) r.headers.emplace_back("idempotency-key", *key);
  return r;
}

std::optional<IdempotentRequest> key_of(const Operation& o, const HttpRequest& r) {
  auto k = idempotency_key(o, r);
  EXPECT_FALSE(failed(k));
  return failed(k) ? std::nullopt : std::get<std::optional<IdempotentRequest>>(k);
}

int refusal(const Operation& o, const HttpRequest& r) {
  auto k = idempotency_key(o, r);
  return failed(k) ? std::get<Failure>(k).problem.status : 0;
}

TEST(IdempotencyKey, OnlyAuthenticatedPostsWithTheHeaderTakeOne) {
  auto k = key_of(op(), post("order-1"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->key, "order-1");
  EXPECT_EQ(k->request_sha256, request_sha256(post("order-1")));
  EXPECT_FALSE(key_of(op(), post(std::nullopt)));
  EXPECT_FALSE(key_of(op(Auth::None), post(std::nullopt)));  // a public POST without one
  HttpRequest patch = post("order-1");
  patch.method = "PATCH";
  EXPECT_FALSE(key_of(op(), patch));
  HttpRequest cased = post(std::nullopt);
  cased.headers.emplace_back("IDEMPOTENCY-KEY", "k");
  EXPECT_TRUE(key_of(op(), cased));  // header names in any case
}

TEST(IdempotencyKey, IsRefusedOnPostsThatDoNotTakeOne) {
  Operation tus = op();
  tus.protocol = Protocol::TusCreate;
  Operation octets = op();
  Param body;
  body.from = Source::BodyOctets;
  octets.params.push_back(body);
  EXPECT_TRUE(takes_idempotency_key(op()));
  for (const Operation& o : {op(Auth::None), op(Auth::Register), tus, octets}) {
    EXPECT_FALSE(takes_idempotency_key(o));
    EXPECT_EQ(refusal(o, post("order-1")), 400);  // never silently ignored
    EXPECT_EQ(refusal(o, post(std::nullopt)), 0);
  }
  auto k = idempotency_key(op(Auth::None), post("order-1"));
  ASSERT_TRUE(failed(k));
  EXPECT_EQ(std::get<Failure>(k).problem.detail,
            "this endpoint does not take an Idempotency-Key (a public or registration POST): send "
            "the request without it");
  Operation get = op();
  get.method = "GET";
  EXPECT_FALSE(takes_idempotency_key(get));
}

TEST(IdempotencyKey, Is1To255PrintableAsciiCharacters) {
  EXPECT_EQ(refusal(op(), post("")), 400);
  EXPECT_EQ(refusal(op(), post(std::string(256, 'k'))), 400);
  EXPECT_EQ(refusal(op(), post("a\tb")), 400);
  EXPECT_EQ(refusal(op(), post("caf\xc3\xa9")), 400);
  EXPECT_EQ(refusal(op(), post(std::string("a\0b", 3))), 400);
  EXPECT_EQ(refusal(op(), post(std::string(255, 'k'))), 0);
  EXPECT_EQ(refusal(op(), post("a b ~!")), 0);
  auto k = idempotency_key(op(), post(""));
  ASSERT_TRUE(failed(k));
  EXPECT_EQ(std::get<Failure>(k).problem.detail,
            "the Idempotency-Key header must be 1 to 255 printable ASCII characters");
}

TEST(RequestSha256, CoversMethodPathQueryAndBodyUnambiguously) {
  HttpRequest a = post("k");
  std::string h = request_sha256(a);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  a.headers.emplace_back("user-agent", "other");  // headers are not part of the request's identity
  EXPECT_EQ(request_sha256(a), h);
  HttpRequest body = post("k", R"({"name":"b"})");
  EXPECT_NE(request_sha256(body), h);
  HttpRequest path = post("k");
  path.path = "/api/v1/teams/";
  EXPECT_NE(request_sha256(path), h);
  HttpRequest method = post("k");
  method.method = "PUT";
  EXPECT_NE(request_sha256(method), h);
  HttpRequest query = post("k");
  query.query = {{"a", "1"}};
  EXPECT_NE(request_sha256(query), h);
  // Moving bytes between the path and the body changes the fingerprint (length prefixes).
  HttpRequest x = post("k", "b/c"), y = post("k", "c");
  x.path = "/a";
  y.path = "/ab/";
  EXPECT_NE(request_sha256(x), request_sha256(y));
  HttpRequest q1 = post("k"), q2 = post("k");
  q1.query = {{"a", "b=c"}};
  q2.query = {{"a=b", "c"}};
  EXPECT_NE(request_sha256(q1), request_sha256(q2));
}

TEST(IdempotencyCalls, CarryTheKeyTheFingerprintAndTheAnswer) {
  IdempotentRequest k{"order-1", std::string(64, 'a')};
  DbCall l = lookup_call(k), c = claim_call(k);
  EXPECT_EQ(l.statement, "gw:idempotency_lookup");
  EXPECT_NE(l.sql.find("coditect.idempotency_lookup($1::text, $2::text)"), std::string::npos);
  EXPECT_EQ(l.params, (std::vector<std::optional<std::string>>{"order-1", std::string(64, 'a')}));
  EXPECT_EQ(c.statement, "gw:idempotency_claim");
  EXPECT_EQ(c.params, l.params);
  HttpResponse r;
  r.status = 201;
  r.body = R"({"id":"x"})";
  r.headers = {{"ETag", "\"e1\""}, {"Location", "/api/v1/projects/x/"}};
  DbCall f = finish_call(k, r, false);
  EXPECT_EQ(f.statement, "gw:idempotency_finish");
  EXPECT_NE(f.sql.find("$6::boolean"), std::string::npos);
  ASSERT_EQ(f.params.size(), 6u);
  EXPECT_EQ(f.params[0], "order-1");
  EXPECT_EQ(f.params[1], "201");
  EXPECT_EQ(f.params[2], "application/json");
  EXPECT_EQ(nlohmann::json::parse(*f.params[3]),
            nlohmann::json::parse(R"([["ETag", "\"e1\""], ["Location", "/api/v1/projects/x/"]])"));
  EXPECT_EQ(f.params[4], r.body);
  EXPECT_EQ(f.params[5], "false");
  // An answer that holds a secret: its status only, nothing of it leaves the gateway.
  r.body = R"({"secret":"whsec_1"})";
  DbCall s = finish_call(k, r, true);
  EXPECT_EQ(s.params, (std::vector<std::optional<std::string>>{
                          "order-1", "201", std::nullopt, std::nullopt, std::nullopt, "true"}));
}

TEST(KeyTaken, IsTheClaimsOwnConflictOnly) {
  DbOutcome o;
  o.kind = DbOutcome::Kind::Error;
  o.error.sqlstate = "CD409";
  o.error.constraint = "idempotency_key_taken";
  EXPECT_TRUE(key_taken(o));
  o.error.constraint = "projects_name_key";  // the POST's own conflict is answered as it is
  EXPECT_FALSE(key_taken(o));
  o.error.constraint = "idempotency_key_taken";
  o.error.sqlstate = "23505";
  EXPECT_FALSE(key_taken(o));
  o.kind = DbOutcome::Kind::Ok;
  o.error.sqlstate = "CD409";
  EXPECT_FALSE(key_taken(o));
}

TEST(Replayed, IsTheFirstAnswerMarkedAsReplayed) {
  HttpResponse first;
  first.status = 201;
  first.body = R"({"id":"x","name":"caf\u00e9"})";
  first.headers = {{"ETag", "\"e1\""}};
  auto f = finish_call(IdempotentRequest{"k", std::string(64, 'a')}, first, false);
  nlohmann::json stored = {{"status", 201},
                           {"content_type", *f.params[2]},
                           {"headers", nlohmann::json::parse(*f.params[3])},
                           {"body", *f.params[4]}};
  auto r = replayed(stored.dump());
  ASSERT_FALSE(failed(r));
  const auto& again = std::get<HttpResponse>(r);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.content_type, "application/json");
  EXPECT_EQ(again.headers, (std::vector<std::pair<std::string, std::string>>{
                               {"ETag", "\"e1\""}, {"Idempotent-Replayed", "true"}}));
  // A 204's empty content type and body come back as they were.
  auto none = replayed(R"({"status": 204, "content_type": "", "headers": [], "body": ""})");
  ASSERT_FALSE(failed(none));
  EXPECT_EQ(std::get<HttpResponse>(none).status, 204);
  EXPECT_EQ(std::get<HttpResponse>(none).content_type, "");
  for (const char* bad :
       {"null", "[]", R"({"status": "201", "content_type": "", "headers": [], "body": ""})",
        R"({"status": 201, "content_type": "", "headers": [["a"]], "body": ""})",
        R"({"status": 201, "content_type": "", "headers": [], "body": null})"}) {
    auto b = replayed(bad);
    ASSERT_TRUE(failed(b)) << bad;
    EXPECT_EQ(std::get<Failure>(b).problem.status, 500) << bad;
  }
}

}  // namespace
