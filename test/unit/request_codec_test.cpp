// Unit tests for the text of coditect.request (src_ext/request_codec.hpp): what the coordinator
// writes reads back the same, and any other byte string is refused with a reason, never a crash.
#include "request_codec.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace coditect::context {
namespace {

Request sample() {
  Request r;
  for (int i = 0; i < 16; ++i) {
    r.tenant[i] = static_cast<std::uint8_t>(0xa0 + i);
    r.user[i] = static_cast<std::uint8_t>(i * 17);
  }
  r.role = "admin";
  r.client_ip = "192.0.2.7";
  r.user_agent = "curl/8.5 (x; y=z) \"quoted\" 100%";
  r.method = "PATCH";
  r.path = "/api/v1/projects/?q=a;b=c&d";
  r.request_id = "req-1.2_3:4";
  return r;
}

Request decoded(const std::string& text) {
  Request out;
  std::string error;
  EXPECT_TRUE(decode_request(text, &out, &error)) << text << ": " << error;
  return out;
}

std::string refusal(std::string_view text) {
  Request out;
  std::string error;
  EXPECT_FALSE(decode_request(text, &out, &error)) << text;
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(RequestCodec, EncodesInAFixedReadableForm) {
  EXPECT_EQ(encode_request(sample()),
            "v1;t=a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf;u=00112233-4455-6677-8899-aabbccddeeff"
            ";r=admin;ip=192.0.2.7;ua=curl/8.5%20%28x%3B%20y%3Dz%29%20%22quoted%22%20100%25"
            ";m=PATCH;p=/api/v1/projects/%3Fq%3Da%3Bb%3Dc%26d;id=req-1.2_3:4");
}

TEST(RequestCodec, RoundTripsEveryField) { EXPECT_EQ(decoded(encode_request(sample())), sample()); }

TEST(RequestCodec, AbsentFieldsAreOmittedAndEmptyOnesKept) {
  Request r = sample();
  r.client_ip.reset();
  r.method.reset();
  r.request_id.reset();
  r.user_agent = "";
  const std::string text = encode_request(r);
  EXPECT_EQ(text.find(";ip="), std::string::npos);
  EXPECT_NE(text.find(";ua=;p="), std::string::npos);
  const Request back = decoded(text);
  EXPECT_EQ(back, r);
  EXPECT_TRUE(back.user_agent.has_value());
  EXPECT_FALSE(back.client_ip.has_value());
}

TEST(RequestCodec, EveryNonNulByteSurvivesAndOnlySafeCharactersAreWritten) {
  Request r = sample();
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  r.user_agent = all;
  r.path = all;
  const std::string text = encode_request(r);
  for (char c : text) {
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      std::string_view("-._~/:%;=").find(c) != std::string_view::npos;
    EXPECT_TRUE(safe) << static_cast<int>(static_cast<unsigned char>(c));
  }
  EXPECT_EQ(decoded(text), r);
}

TEST(RequestCodec, AcceptsIpv6AndNetmasksAndLowerCaseEscapes) {
  Request r = sample();
  r.client_ip = "2001:db8::1/64";
  EXPECT_EQ(decoded(encode_request(r)).client_ip, "2001:db8::1/64");
  std::string text = encode_request(sample());
  const std::size_t at = text.find("%3B");
  text.replace(at, 3, "%3b");
  EXPECT_EQ(decoded(text), sample());
  EXPECT_EQ(
      decoded("v1;t=A0A1A2A3-A4A5-A6A7-A8A9-AAABACADAEAF;u=00112233-4455-6677-8899-aabbccddeeff"
              ";r=guest")
          .tenant,
      sample().tenant);
}

TEST(RequestCodec, RefusesMissingVersionOrRequiredFields) {
  const std::string t = "t=a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf";
  const std::string u = "u=00112233-4455-6677-8899-aabbccddeeff";
  EXPECT_NE(refusal("").find("version"), std::string::npos);
  EXPECT_NE(refusal("v2;" + t + ";" + u + ";r=owner").find("version"), std::string::npos);
  EXPECT_NE(refusal(t + ";" + u + ";r=owner").find("version"), std::string::npos);
  EXPECT_NE(refusal("v1;").find("'='"), std::string::npos);
  EXPECT_EQ(refusal("v1;" + u + ";r=owner"), "field t is missing");
  EXPECT_EQ(refusal("v1;" + t + ";r=owner"), "field u is missing");
  EXPECT_EQ(refusal("v1;" + t + ";" + u), "field r is missing");
  EXPECT_EQ(refusal("v1;" + t + ";" + u + ";ip=192.0.2.1"), "field r is missing");
}

TEST(RequestCodec, RefusesUnknownRepeatedMisplacedAndEmptyFields) {
  const std::string base =
      "v1;t=a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf;u=00112233-4455-6677-8899-aabbccddeeff;r=owner";
  decoded(base);
  refusal(base + ";x=1");
  refusal(base + ";r=guest");                   // repeated
  refusal(base + ";m=GET;ua=x");                // out of order
  refusal(base + ";m=GET;m=POST");              // repeated optional
  refusal(base + ";");                          // empty item
  refusal(base + ";;m=GET");                    // empty item
  refusal(base + ";m");                         // no '='
  EXPECT_EQ(decoded(base + ";m=").method, "");  // present and empty: the checks refuse it
}

TEST(RequestCodec, RefusesBadUuidsIpsAndEscapes) {
  const std::string u = ";u=00112233-4455-6677-8899-aabbccddeeff;r=owner";
  refusal("v1;t=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" + u);
  refusal("v1;t=a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeag" + u);
  refusal("v1;t=a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf0" + u);
  refusal("v1;t=" + u);
  const std::string base = "v1;t=a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf" + u;
  refusal(base + ";ip=300.1.1.1");
  refusal(base + ";ip=192.0.2.1/33");
  refusal(base + ";ip=2001:db8::1/129");
  refusal(base + ";ip=192.0.2.1/");
  refusal(base + ";ip=");
  refusal(base + ";ip=localhost");
  EXPECT_EQ(refusal(base + ";ua=a%00b"), "a value contains a NUL byte");
  EXPECT_EQ(refusal(base + ";ua=a%2"), "truncated %-escape");
  EXPECT_EQ(refusal(base + ";ua=a%"), "truncated %-escape");
  EXPECT_EQ(refusal(base + ";ua=a%zz"), "invalid %-escape");
  EXPECT_EQ(refusal(base + ";ua=a b"), "a value contains a byte that must be %-escaped");
  refusal(base + ";ua=a'b");
  refusal(base + std::string(";ua=a\0b", 7));
  refusal(base + ";ua=\xc3\xa9");
}

TEST(RequestCodec, RefusesOverlongText) {
  Request r = sample();
  r.user_agent = std::string(kMaxEncodedRequest, 'a');
  EXPECT_NE(refusal(encode_request(r)).find("longer than"), std::string::npos);
}

// Random byte strings, and random single-byte changes of a valid text: never a crash, and
// whatever is accepted encodes back to a text that decodes to the same request.
TEST(RequestCodec, ArbitraryBytesAreRefusedOrReadConsistently) {
  std::mt19937 rng(20261130);
  const std::string valid = encode_request(sample());
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    if (round % 2 == 0) {
      const int len = static_cast<int>(rng() % 200);
      for (int i = 0; i < len; ++i) text.push_back(static_cast<char>(rng() % 256));
      if (round % 4 == 0) text = "v1;" + text;
    } else {
      text = valid;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) text[rng() % text.size()] = static_cast<char>(rng() % 256);
    }
    Request out;
    std::string error;
    if (decode_request(text, &out, &error)) {
      EXPECT_EQ(decoded(encode_request(out)), out);
    } else {
      EXPECT_FALSE(error.empty());
    }
  }
}

TEST(RequestCodec, UuidsFormatInLowerCase) {
  std::array<std::uint8_t, 16> u{};
  ASSERT_TRUE(parse_uuid("0189ABCD-ef01-7000-8000-00000000000A", &u));
  EXPECT_EQ(format_uuid(u), "0189abcd-ef01-7000-8000-00000000000a");
  EXPECT_FALSE(parse_uuid("0189abcd-ef01-7000-8000-00000000000", &u));
  EXPECT_FALSE(parse_uuid("0189abcd+ef01-7000-8000-00000000000a", &u));
}

}  // namespace
}  // namespace coditect::context
