// Query strings, list parameters -> filters, pagination links.
#include <gtest/gtest.h>

#include "query.hpp"

using namespace coditect::gateway;
using nlohmann::json;

TEST(GatewayQuery, PercentDecoding) {
  EXPECT_EQ(percent_decode("a%20b+c").value(), "a b c");
  EXPECT_EQ(percent_decode("%2525").value(), "%25");
  EXPECT_EQ(percent_decode("%C3%A9").value(), "\xC3\xA9");
  EXPECT_FALSE(percent_decode("%2"));
  EXPECT_FALSE(percent_decode("%zz"));
  EXPECT_FALSE(percent_decode("a%00b"));
  EXPECT_EQ(percent_decode("a+b", false).value(), "a+b");
}

TEST(GatewayQuery, PercentEncodingRoundTrips) {
  std::string s = "P 1/2&x=y?é";
  EXPECT_EQ(percent_decode(percent_encode(s)).value(), s);
  EXPECT_EQ(percent_encode("a-b_c.d~"), "a-b_c.d~");
}

TEST(GatewayQuery, Utf8) {
  EXPECT_TRUE(is_utf8("plain"));
  EXPECT_TRUE(is_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_utf8("\xff\xfe"));
  EXPECT_FALSE(is_utf8("\xC3"));              // cut short
  EXPECT_FALSE(is_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_utf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(is_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(parse_query("name=%ff%fe"));
}

TEST(GatewayQuery, ParseQuery) {
  auto p = parse_query("?a=1&b=x%20y&&c&d=").value();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(p[1].second, "x y");
  EXPECT_EQ(p[2], (std::pair<std::string, std::string>{"c", ""}));
  EXPECT_EQ(p[3].second, "");
  EXPECT_FALSE(parse_query("a=%G1"));
}

TEST(GatewayQuery, Uuid) {
  EXPECT_TRUE(is_uuid("0190a6e5-7b1c-7cc3-9b2e-1234567890ab"));
  EXPECT_TRUE(is_uuid("0190A6E5-7B1C-7CC3-9B2E-1234567890AB"));
  EXPECT_FALSE(is_uuid("0190a6e5-7b1c-7cc3-9b2e-1234567890a"));
  EXPECT_FALSE(is_uuid("0190a6e5x7b1c-7cc3-9b2e-1234567890ab"));
  EXPECT_FALSE(is_uuid("0190a6e5-7b1c-7cc3-9b2e-1234567890ag"));
  EXPECT_FALSE(is_uuid("not-a-uuid"));
  EXPECT_FALSE(is_uuid(""));
}

namespace {
QuerySpec list_spec(int page_size, bool keyset) {
  QuerySpec s;
  s.page = s.page_size = s.cursor = s.ordering = s.search = s.filters = true;
  s.default_page_size = page_size;
  s.keyset_default = keyset;
  return s;
}
const QuerySpec kProjects = list_spec(20, false);
const QuerySpec kAudit = list_spec(50, true);
}  // namespace

TEST(GatewayQuery, ListDefaults) {
  ListQuery q;
  ASSERT_FALSE(parse_list_query({}, kProjects, q));
  EXPECT_EQ(q.page, 1);
  EXPECT_EQ(q.page_size, 20);
  EXPECT_FALSE(q.cursor);
  EXPECT_EQ(q.filters, json::object());
  ASSERT_FALSE(parse_list_query({}, kAudit, q));
  EXPECT_FALSE(q.page) << "audit logs default to keyset pages";
  EXPECT_EQ(q.page_size, 50);
}

TEST(GatewayQuery, KnownFiltersBecomeTheFiltersObject) {
  ListQuery q;
  ASSERT_FALSE(parse_list_query(
      {{"name", "Apollo"}, {"created_at__gte", "2026-01-01"}, {"page", "2"}, {"page_size", "5"}},
      kProjects, q));
  EXPECT_EQ(q.filters, (json{{"name", "Apollo"}, {"created_at__gte", "2026-01-01"}}));
  EXPECT_EQ(q.page, 2);
  EXPECT_EQ(q.page_size, 5);
}

TEST(GatewayQuery, OtherKeysAreFiltersForTheDatabaseToCheck) {
  ListQuery q;
  ASSERT_FALSE(
      parse_list_query({{"owner", "x"}, {"ordering", "-name"}, {"search", "a"}}, kProjects, q));
  EXPECT_EQ(q.filters, (json{{"owner", "x"}}));
  EXPECT_EQ(q.ordering, "-name");
  EXPECT_EQ(q.search, "a");
}

TEST(GatewayQuery, UnknownParametersAreRejectedWhereNoFilterIsTaken) {
  ListQuery q;
  QuerySpec spec;
  spec.fields = {"session_id"};
  auto err = parse_list_query({{"owner", "x"}}, spec, q);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("unknown query parameter \"owner\" (allowed: session_id)"),
            std::string::npos);
  EXPECT_TRUE(parse_list_query({{"page", "1"}}, spec, q)) << "no paging here";
  ASSERT_FALSE(parse_list_query({{"session_id", "s"}}, spec, q));
  EXPECT_EQ(q.fields, (Params{{"session_id", "s"}}));
  EXPECT_FALSE(q.page);
  err = parse_list_query({{"x", "1"}}, QuerySpec{}, q);
  EXPECT_NE(err->find("none is accepted"), std::string::npos);
}

TEST(GatewayQuery, PageAndPageSizeAreBounded) {
  ListQuery q;
  EXPECT_TRUE(parse_list_query({{"page", "0"}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"page", "-1"}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"page", "1.5"}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"page", "abc"}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"page", "99999999999999999999"}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"page_size", "0"}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"page_size", "201"}}, kProjects, q));
  EXPECT_FALSE(parse_list_query({{"page_size", "200"}}, kProjects, q));
  EXPECT_FALSE(parse_list_query({{"page_size", "1"}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"page", "1"}, {"cursor", "abc"}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"cursor", ""}}, kProjects, q));
  EXPECT_TRUE(parse_list_query({{"name", "a"}, {"name", "b"}}, kProjects, q));
}

TEST(GatewayQuery, CursorSelectsKeysetPages) {
  ListQuery q;
  ASSERT_FALSE(parse_list_query({{"cursor", "abc"}}, kProjects, q));
  EXPECT_FALSE(q.page);
  EXPECT_EQ(q.cursor, "abc");
  ASSERT_FALSE(parse_list_query({{"page", "3"}}, kAudit, q));
  EXPECT_EQ(q.page, 3) << "an explicit page wins over the keyset default";
}

TEST(GatewayQuery, PageLinks) {
  ListQuery q;
  ASSERT_FALSE(
      parse_list_query({{"name", "a b&c"}, {"page", "2"}, {"page_size", "10"}}, kProjects, q));
  json db = {{"count", 35}, {"results", json::array({1, 2})}, {"next_cursor", nullptr}};
  json env = list_envelope(db, q, "http://h:8080", "/api/v1/projects/");
  EXPECT_EQ(env["count"], 35);
  EXPECT_EQ(env["results"], json::array({1, 2}));
  EXPECT_EQ(env["next"], "http://h:8080/api/v1/projects/?name=a%20b%26c&page=3&page_size=10");
  EXPECT_EQ(env["previous"], "http://h:8080/api/v1/projects/?name=a%20b%26c&page=1&page_size=10");
}

TEST(GatewayQuery, FirstAndLastPagesHaveNoPreviousOrNext) {
  ListQuery q;
  ASSERT_FALSE(parse_list_query({{"page_size", "10"}}, kProjects, q));
  json env = list_envelope({{"count", 10}, {"results", json::array()}}, q, "http://h", "/p/");
  EXPECT_TRUE(env["next"].is_null());
  EXPECT_TRUE(env["previous"].is_null());
  env = list_envelope({{"count", 11}, {"results", json::array()}}, q, "http://h", "/p/");
  EXPECT_EQ(env["next"], "http://h/p/?page=2&page_size=10");
  ASSERT_FALSE(parse_list_query({{"page", "4"}, {"page_size", "10"}}, kProjects, q));
  env = list_envelope({{"count", 11}, {"results", json::array()}}, q, "http://h", "/p/");
  EXPECT_TRUE(env["next"].is_null());
  EXPECT_EQ(env["previous"], "http://h/p/?page=3&page_size=10");
}

TEST(GatewayQuery, CursorLinks) {
  ListQuery q;
  ASSERT_FALSE(parse_list_query({{"action", "project.create"}}, kAudit, q));
  json db = {{"count", nullptr}, {"results", json::array({1})}, {"next_cursor", "MjAy-_x"}};
  json env = list_envelope(db, q, "https://api.example", "/api/v1/audit-logs/");
  EXPECT_TRUE(env["count"].is_null());
  EXPECT_EQ(
      env["next"],
      "https://api.example/api/v1/audit-logs/?action=project.create&cursor=MjAy-_x&page_size=50");
  EXPECT_TRUE(env["previous"].is_null());
  db["next_cursor"] = nullptr;
  EXPECT_TRUE(list_envelope(db, q, "http://h", "/a/")["next"].is_null());
  EXPECT_EQ(list_envelope(db, q, "http://h", "/a/").begin().key(), "count");
}

TEST(GatewayQuery, LinksAreRelativeWithoutAPublicUrl) {
  ListQuery q;
  ASSERT_FALSE(parse_list_query({{"page", "2"}, {"page_size", "10"}}, kProjects, q));
  json env = list_envelope({{"count", 35}, {"results", json::array()}}, q, "", "/api/v1/projects/");
  EXPECT_EQ(env["next"], "/api/v1/projects/?page=3&page_size=10");
  EXPECT_EQ(env["previous"], "/api/v1/projects/?page=1&page_size=10");
  env = list_envelope({{"count", 35}, {"results", json::array()}}, q, "https://api.example/v",
                      "/api/v1/projects/");
  EXPECT_EQ(env["next"], "https://api.example/v/api/v1/projects/?page=3&page_size=10");
}

TEST(GatewayQuery, RepeatedKeys) {
  EXPECT_FALSE(repeated_key({{"a", "1"}, {"b", "1"}}));
  EXPECT_EQ(repeated_key({{"role", "a"}, {"x", ""}, {"role", "b"}}), "role");
  EXPECT_EQ(repeated_key(parse_query("role=a&role=b").value()), "role");
  EXPECT_EQ(repeated_key(parse_query("r%6Fle=a&role=b").value()), "role") << "compared decoded";
}

TEST(GatewayQuery, NulAnywhereInJson) {
  EXPECT_FALSE(json_has_nul(json::parse(R"({"a": ["b", {"c": "d"}], "e": 1})")));
  EXPECT_TRUE(json_has_nul(json::parse(R"({"hardware_id": "a\u0000b"})")));
  EXPECT_TRUE(json_has_nul(json::parse(R"({"a\u0000": "b"})")));
  EXPECT_TRUE(json_has_nul(json::parse(R"({"m": {"x": ["ok", "\u0000"]}})")));
  EXPECT_TRUE(json_has_nul(json::parse(R"({"m": {"k\u0000": 1}})")));
}
