#include "share_secret.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace coditect::share_secret;

namespace {

// Cheap parameters: the tests check the format and the verdicts, not the cost.
const ScryptParams kFast{10, 8, 1};

}  // namespace

TEST(ShareSecret, TokensAreRandomAndSixteenBytes) {
  std::set<std::array<std::uint8_t, kTokenBytes>> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(random_token());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(ShareSecret, PasswordHashFormatAndVerdicts) {
  std::string h = password_hash("correct horse", kFast);
  EXPECT_EQ(h.rfind("$scrypt$ln=10,r=8,p=1$", 0), 0u) << h;
  EXPECT_EQ(h.find("correct horse"), std::string::npos);
  EXPECT_EQ(password_verify("correct horse", h), std::optional<bool>(true));
  EXPECT_EQ(password_verify("correct horsE", h), std::optional<bool>(false));
  EXPECT_EQ(password_verify("", h), std::optional<bool>(false));
}

TEST(ShareSecret, SaltsDiffer) {
  EXPECT_NE(password_hash("same", kFast), password_hash("same", kFast));
}

TEST(ShareSecret, DefaultParametersAreTheDocumentedOnes) {
  std::string h = password_hash("pw");
  EXPECT_EQ(h.rfind("$scrypt$ln=15,r=8,p=3$", 0), 0u) << h;
  EXPECT_EQ(password_verify("pw", h), std::optional<bool>(true));
}

TEST(ShareSecret, KnownVectorOfRfc7914) {
  // RFC 7914 section 12, second vector: P="password", S="NaCl", N=1024, r=8, p=16, 64 bytes;
  // our format keeps 16-byte salts in base64, so the vector is written in it.
  std::string encoded =
      "$scrypt$ln=10,r=8,p=16$TmFDbA==$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWIurzDZLiKjiG/"
      "xCSedmDDaxyevuUqD7m2DYMvfoswGQA==";
  EXPECT_EQ(password_verify("password", encoded), std::optional<bool>(true));
  EXPECT_EQ(password_verify("Password", encoded), std::optional<bool>(false));
}

TEST(ShareSecret, MalformedOrCostlyEncodingsAreRefused) {
  std::string good = password_hash("pw", kFast);
  EXPECT_EQ(password_verify("pw", ""), std::nullopt);
  EXPECT_EQ(password_verify("pw", "plain text"), std::nullopt);
  EXPECT_EQ(password_verify("pw", good + "x"), std::nullopt);
  EXPECT_EQ(password_verify(
                "pw", "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA=="),
            std::nullopt);
  EXPECT_EQ(password_verify(
                "pw", "$scrypt$ln=10,r=0,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA=="),
            std::nullopt);
  EXPECT_EQ(password_verify("pw", "$scrypt$ln=10,r=8,p=1$!!!!$AAAAAAAAAAAAAAAAAAAAAA=="),
            std::nullopt);
  EXPECT_THROW(password_hash("pw", ScryptParams{0, 8, 1}), SecretError);
}
