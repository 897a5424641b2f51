// SQLSTATE -> HTTP mapping and problem+json bodies of the gateway.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "problem.hpp"

using namespace coditect::gateway;

TEST(GatewayErrors, OwnCodesCarryTheirStatus) {
  EXPECT_EQ(map_sqlstate("CD400").status, 400);
  EXPECT_EQ(map_sqlstate("CD403").status, 403);
  EXPECT_EQ(map_sqlstate("CD404").status, 404);
  EXPECT_EQ(map_sqlstate("CD409").status, 409);
  EXPECT_EQ(map_sqlstate("CD410").status, 410);
  EXPECT_EQ(map_sqlstate("CD413").status, 413);
  EXPECT_EQ(map_sqlstate("CD422").status, 422);
  EXPECT_FALSE(map_sqlstate("CD409").retry);
}

TEST(GatewayErrors, MalformedOwnCodesAre500) {
  EXPECT_EQ(map_sqlstate("CD999").status, 500);
  EXPECT_EQ(map_sqlstate("CD200").status, 500);
  EXPECT_EQ(map_sqlstate("CDx04").status, 500);
  EXPECT_EQ(map_sqlstate("CD40").status, 500);
  EXPECT_EQ(map_sqlstate("").status, 500);
}

TEST(GatewayErrors, StandardCodes) {
  struct {
    const char* code;
    int status;
  } cases[] = {{"23505", 409}, {"23503", 409}, {"23514", 422}, {"23P01", 422}, {"22P02", 400},
               {"22007", 400}, {"22023", 400}, {"22001", 400}, {"22003", 400}, {"22008", 400},
               {"42501", 403}, {"P0002", 404}, {"08006", 503}, {"08001", 503}, {"08P01", 503},
               {"57014", 504}, {"XX000", 500}, {"42883", 500}, {"P0001", 500}, {"25006", 500}};
  for (const auto& c : cases) {
    EXPECT_EQ(map_sqlstate(c.code).status, c.status) << c.code;
    EXPECT_FALSE(map_sqlstate(c.code).retry) << c.code;
  }
}

TEST(GatewayErrors, ClientCausedCodesBeyondTheTableAreNever500) {
  // Data exceptions (encoding, \u0000 in JSON, ...), missing required values and limits are
  // caused by what a client sent.
  EXPECT_EQ(map_sqlstate("22P05").status, 400);
  EXPECT_EQ(map_sqlstate("22021").status, 400);
  EXPECT_EQ(map_sqlstate("23502").status, 400);
  EXPECT_EQ(map_sqlstate("54001").status, 400);
  EXPECT_EQ(map_sqlstate("57P01").status, 503);
  EXPECT_EQ(map_sqlstate("53300").status, 503);
}

TEST(GatewayErrors, SerializationFailuresAndDeadlocksRetryThen503) {
  EXPECT_TRUE(map_sqlstate("40001").retry);
  EXPECT_TRUE(map_sqlstate("40P01").retry);
  EXPECT_EQ(map_sqlstate("40001").status, 503);
  EXPECT_EQ(map_sqlstate("40P01").status, 503);
}

TEST(GatewayErrors, OwnMessagesAreShownStandardOnesReplaced) {
  Problem p = problem_from_db_error("CD409", "no free seat: 5 of 5 seats in use", "");
  EXPECT_EQ(p.status, 409);
  EXPECT_EQ(p.detail, "no free seat: 5 of 5 seats in use");
  EXPECT_EQ(p.code, "CD409");

  Problem q = problem_from_db_error(
      "23514", "new row for relation \"projects\" violates check constraint \"x\"",
      "Failing row contains (secret)", "projects_name_check");
  EXPECT_EQ(q.status, 422);
  EXPECT_EQ(q.detail, "a value breaks a rule of the resource");
  EXPECT_EQ(q.constraint, "projects_name_check");
  EXPECT_TRUE(q.hint.empty());
  std::string body = problem_json(q, "/api/v1/projects/");
  EXPECT_EQ(body.find("Failing row"), std::string::npos);
  EXPECT_EQ(body.find("secret"), std::string::npos);
  EXPECT_EQ(body.find("violates"), std::string::npos);

  Problem r = problem_from_db_error("XX000", "internal: tenant 42 row (a,b,c)", "");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.detail, "internal error");
}

TEST(GatewayErrors, HintsOfOwnErrorsAreKept) {
  Problem p = problem_from_db_error("CD400", "unknown or read-only field(s): colour",
                                    "writable fields: name, description");
  EXPECT_EQ(p.hint, "writable fields: name, description");
}

TEST(GatewayErrors, ProblemJsonHasTheRfc9457Members) {
  auto j = nlohmann::json::parse(problem_json(gateway_problem(404, "no such endpoint"), "/x"));
  EXPECT_EQ(j["type"], "about:blank");
  EXPECT_EQ(j["title"], "Not Found");
  EXPECT_EQ(j["status"], 404);
  EXPECT_EQ(j["detail"], "no such endpoint");
  EXPECT_EQ(j["code"], "CD404");
  EXPECT_EQ(j["instance"], "/x");
  EXPECT_FALSE(j.contains("hint"));
}

TEST(GatewayErrors, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(422), "Unprocessable Content");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(499), "Error");
}

TEST(GatewayErrors, HeaderValuesLoseControlCharacters) {
  EXPECT_EQ(header_value("HS256\r\nX-Injected: yes"), "HS256X-Injected: yes");
  EXPECT_EQ(header_value(std::string("a\0b\tc\x7f"
                                     "d",
                                     7)),
            "abcd");
  EXPECT_EQ(header_value("Bearer realm=\"coditect\""), "Bearer realm=\"coditect\"");
  EXPECT_EQ(header_value("caf\xC3\xA9"), "caf\xC3\xA9") << "bytes past ASCII are not controls";
}

TEST(GatewayProblem, StaleIfMatchIs412) {
  EXPECT_EQ(map_sqlstate("CD412").status, 412);
  EXPECT_FALSE(map_sqlstate("CD412").retry);
  Problem p = problem_from_db_error("CD412", "the row changed since it was read", "read it again");
  EXPECT_EQ(p.status, 412);
  EXPECT_EQ(p.code, "CD412");
  EXPECT_EQ(p.detail, "the row changed since it was read");
  EXPECT_EQ(p.hint, "read it again");
  EXPECT_NE(problem_json(p).find("\"title\":\"Precondition Failed\""), std::string::npos);
}
