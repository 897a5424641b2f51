// Unit tests for the argument rules of set_request_context (src_ext/request_context_rules.hpp).
#include "request_context_rules.hpp"

#include <gtest/gtest.h>

#include <string>

namespace coditect::context {
namespace {

TEST(RequestContextRules, RolesRankInTheEnumOrder) {
  EXPECT_EQ(role_rank("guest"), 1);
  EXPECT_EQ(role_rank("member"), 2);
  EXPECT_EQ(role_rank("admin"), 3);
  EXPECT_EQ(role_rank("owner"), 4);
  for (int rank = 1; rank <= 4; ++rank) EXPECT_EQ(role_rank(role_name(rank)), rank);
}

TEST(RequestContextRules, UnknownRolesHaveNoRank) {
  EXPECT_EQ(role_rank(""), 0);
  EXPECT_EQ(role_rank("Owner"), 0);
  EXPECT_EQ(role_rank("owner "), 0);
  EXPECT_EQ(role_rank(std::string("owner\0x", 7)), 0);
  EXPECT_EQ(role_rank("root"), 0);
  EXPECT_EQ(role_name(0), nullptr);
  EXPECT_EQ(role_name(5), nullptr);
}

TEST(RequestContextRules, RequestMethodIsOneToTenUpperCaseLetters) {
  EXPECT_TRUE(valid_request_method("GET"));
  EXPECT_TRUE(valid_request_method("A"));
  EXPECT_TRUE(valid_request_method("ABCDEFGHIJ"));
  EXPECT_FALSE(valid_request_method(""));
  EXPECT_FALSE(valid_request_method("ABCDEFGHIJK"));
  EXPECT_FALSE(valid_request_method("get"));
  EXPECT_FALSE(valid_request_method("GET\n"));
  EXPECT_FALSE(valid_request_method("get; drop"));
  EXPECT_FALSE(valid_request_method("G\xc3\x89T"));
}

TEST(RequestContextRules, RequestIdIsOneTo128SafeCharacters) {
  EXPECT_TRUE(valid_request_id("a"));
  EXPECT_TRUE(valid_request_id("req-01.AZ_az:09"));
  EXPECT_TRUE(valid_request_id(std::string(128, 'x')));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id(std::string(129, 'x')));
  EXPECT_FALSE(valid_request_id("a b"));
  EXPECT_FALSE(valid_request_id("a/b"));
  EXPECT_FALSE(valid_request_id("id\n"));
  EXPECT_FALSE(valid_request_id("\xc3\xa9t\xc3\xa9"));
}

}  // namespace
}  // namespace coditect::context
