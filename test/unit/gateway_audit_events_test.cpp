// The gateway's part of the audit events: token hashes, the bounded set of seen tokens, the
// login call from a token's claims, which answers are recorded and with what code.
#include <gtest/gtest.h>

#include <chrono>

#include "audit_events.hpp"
#include "pipeline.hpp"

using namespace coditect::gateway;

namespace {

TEST(TokenSha256, IsTheHexDigestOfTheToken) {
  // SHA-256("abc") and SHA-256("") (FIPS 180-2 examples).
  EXPECT_EQ(token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(token_sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SeenTokens, RemembersUpToItsCapacityDroppingTheLeastRecentlyUsed) {
  SeenTokens s(2);
  EXPECT_FALSE(s.seen("a"));
  s.remember("a");
  s.remember("b");
  EXPECT_TRUE(s.seen("a"));  // a is now the most recent
  s.remember("c");           // drops b
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.seen("a"));
  EXPECT_FALSE(s.seen("b"));
  EXPECT_TRUE(s.seen("c"));
  s.remember("c");  // again: no duplicate
  EXPECT_EQ(s.size(), 2u);
  SeenTokens none(0);  // at least one
  none.remember("x");
  EXPECT_TRUE(none.seen("x"));
}

TEST(LoginCall, CarriesTheHashAndTheTokensTimesNeverTheToken) {
  TokenVerifier v(JwtSettings{"0123456789abcdef0123456789abcdef", {}, "", "", 60});
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string token = mint_token("HS256", "0123456789abcdef0123456789abcdef",
                                 {{"sub", "0190a6e5-7b1c-7cc3-9b2e-1234567890ab"},
                                  {"tenant_id", "0190a6e5-7b1c-7cc3-9b2e-0000000000aa"},
                                  {"role", "member"},
                                  {"iat", now},
                                  {"exp", now + 600}});
  // authenticate() hashes the token it verified.
  Route route;
  route.op.auth = Auth::Bearer;
  HttpRequest req;
  req.authorization = "Bearer " + token;
  auto claims = authenticate(route, req, v);
  ASSERT_FALSE(failed(claims));
  const TokenClaims& c = std::get<TokenClaims>(claims);
  EXPECT_EQ(c.token_sha256, token_sha256(token));
  auto call = login_call(c);
  ASSERT_TRUE(call);
  EXPECT_EQ(call->statement, "gw:record_login");
  EXPECT_NE(call->sql.find("coditect.record_login("), std::string::npos);
  ASSERT_EQ(call->params.size(), 3u);
  EXPECT_EQ(call->params[0], token_sha256(token));
  EXPECT_EQ(call->params[1], std::to_string(now) + ".000000");
  EXPECT_EQ(call->params[2], std::to_string(now + 600) + ".000000");
  for (const auto& p : call->params) EXPECT_EQ(p->find(token), std::string::npos);

  TokenClaims without_iat = c;
  without_iat.issued_at.reset();
  EXPECT_FALSE(login_call(without_iat)->params[1]);
  EXPECT_FALSE(login_call(TokenClaims{}));  // no token, no login
}

HttpResponse answer(int status, const std::string& body) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

TEST(OutcomeCall, RecordsRefusalsAndFailuresButNotUnavailability) {
  auto refused = outcome_call(answer(403, R"({"status": 403, "code": "CD403"})"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->statement, "gw:audit_outcome");
  EXPECT_NE(refused->sql.find("coditect.audit_request_outcome("), std::string::npos);
  ASSERT_EQ(refused->params.size(), 2u);
  EXPECT_EQ(refused->params[0], "403");
  EXPECT_EQ(refused->params[1], "CD403");
  auto failed500 = outcome_call(answer(500, R"({"code": "XX000"})"));
  ASSERT_TRUE(failed500);
  EXPECT_EQ(failed500->params[0], "500");
  EXPECT_EQ(failed500->params[1], "XX000");
  auto timeout = outcome_call(answer(504, "not json"));
  ASSERT_TRUE(timeout);
  EXPECT_EQ(timeout->params[0], "504");
  EXPECT_FALSE(timeout->params[1]);
  // A code the database would refuse is left out rather than sent.
  EXPECT_FALSE(outcome_call(answer(403, R"({"code": "cd403; drop"})"))->params[1]);
  EXPECT_FALSE(outcome_call(answer(403, R"({"code": 403})"))->params[1]);
  for (int s : {200, 201, 204, 400, 401, 404, 409, 422, 503})
    EXPECT_FALSE(outcome_call(answer(s, R"({"code": "CD400"})"))) << s;
}

}  // namespace
