#include "webhook_signature.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

using namespace coditect::webhook;

namespace {
std::string hex(const std::array<std::uint8_t, 32>& a) { return to_hex(a.data(), a.size()); }
}  // namespace

// RFC 4231 test cases 1, 2 and 6 (a key longer than the block is hashed first).
TEST(WebhookSignature, HmacMatchesRfc4231) {
  EXPECT_EQ(hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(hmac_sha256(std::string(131, '\xaa'),
                            "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(WebhookSignature, SignIsTimestampThenHmacOfTimestampDotBody) {
  std::string header = sign("whsec", 1700000000, R"({"a":1})");
  EXPECT_EQ(header, "t=1700000000,v1=" + hex(hmac_sha256("whsec", R"(1700000000.{"a":1})")));
}

TEST(WebhookSignature, VerifyAcceptsItsOwnSignatureWithinTolerance) {
  std::string h = sign("k", 1000, "body");
  EXPECT_EQ(verify("k", h, "body", 1000, 300), Verdict::Valid);
  EXPECT_EQ(verify("k", h, "body", 1300, 300), Verdict::Valid);
  EXPECT_EQ(verify("k", h, "body", 700, 300), Verdict::Valid);
}

TEST(WebhookSignature, VerifyRefusesChangedBodyKeyOrTimestamp) {
  std::string h = sign("k", 1000, "body");
  EXPECT_EQ(verify("k", h, "body!", 1000, 300), Verdict::Mismatch);
  EXPECT_EQ(verify("other", h, "body", 1000, 300), Verdict::Mismatch);
  // The timestamp is signed: moving it forward to dodge the window breaks the signature.
  std::string moved = "t=1200" + h.substr(h.find(','));
  EXPECT_EQ(verify("k", moved, "body", 1200, 300), Verdict::Mismatch);
}

TEST(WebhookSignature, VerifySaysExpiredOnlyForGenuineStaleOrFutureRequests) {
  std::string h = sign("k", 1000, "body");
  EXPECT_EQ(verify("k", h, "body", 1301, 300), Verdict::Expired);
  EXPECT_EQ(verify("k", h, "body", 699, 300), Verdict::Expired);
  EXPECT_EQ(verify("x", h, "body", 5000, 300), Verdict::Mismatch);
}

TEST(WebhookSignature, VerifyAcceptsAnyOfSeveralV1AndIgnoresOtherSchemes) {
  std::string good = sign("new", 1000, "b");
  std::string good_v1 = good.substr(good.find("v1="));
  std::string bad_v1 = "v1=" + std::string(64, '0');
  EXPECT_EQ(verify("new", "t=1000," + bad_v1 + "," + good_v1 + ",v0=zz", "b", 1000, 300),
            Verdict::Valid);
  EXPECT_EQ(verify("new", "t=1000," + bad_v1, "b", 1000, 300), Verdict::Mismatch);
}

TEST(WebhookSignature, VerifyRefusesMalformedHeaders) {
  std::string v1 = "v1=" + std::string(64, 'a');
  for (const std::string& h : std::vector<std::string>{
           std::string(""), std::string("t=1000"), v1, "t=abc," + v1, "t=1000,t=1000," + v1,
           "t=1000,v1=abc", "t=1000,v1=" + std::string(64, 'g'), "t=1000;" + v1, "t=," + v1,
           "t=1234567890123," + v1})
    EXPECT_EQ(verify("k", h, "b", 1000, 300), Verdict::Malformed) << h;
}

TEST(WebhookSignature, RandomSecretsDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 16; ++i) {
    auto s = random_secret();
    seen.insert(to_hex(s.data(), s.size()));
  }
  EXPECT_EQ(seen.size(), 16u);
}
