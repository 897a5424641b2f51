// Bearer token checks: HS256, RS256 and ES256 (keys generated with OpenSSL), JWKS parsing,
// times with skew, issuer and audience, alg none and algorithm confusion.
#include <gtest/gtest.h>

#include <chrono>

#include "../support/test_keys.hpp"
#include "jwt_auth.hpp"

using namespace coditect::gateway;
using coditect::testkeys::KeyPair;
using nlohmann::json;

namespace {

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json claims(int64_t exp_offset = 600) {
  int64_t now = now_s();
  return {{"sub", "0190a6e5-7b1c-7cc3-9b2e-1234567890ab"},
          {"tenant_id", "0190a6e5-7b1c-7cc3-9b2e-0000000000aa"},
          {"role", "admin"},
          {"email", "a@b.test"},
          {"iat", now},
          {"exp", now + exp_offset}};
}

// Keys shared by the tests (RSA generation takes a moment).
struct Keys {
  KeyPair rsa = coditect::testkeys::make_rsa("rsa-1");
  KeyPair ec = coditect::testkeys::make_ec("ec-1");
  KeyPair other_rsa = coditect::testkeys::make_rsa("rsa-1");
  std::string jwks() const { return json{{"keys", json::array({rsa.jwk, ec.jwk})}}.dump(); }
};
const Keys& keys() {
  static Keys k;
  return k;
}

TokenVerifier hs_verifier(std::string iss = {}, std::string aud = {}) {
  JwtSettings s;
  s.hs256_secret = "s3cret-s3cret-s3cret";
  s.issuer = std::move(iss);
  s.audience = std::move(aud);
  return TokenVerifier(s);
}

TokenVerifier full_verifier() {
  JwtSettings s;
  s.hs256_secret = "s3cret-s3cret-s3cret";
  s.public_keys = parse_public_keys(keys().jwks());
  return TokenVerifier(s);
}

std::string unsigned_token(const json& header, const json& payload, const std::string& sig) {
  return base64url_encode(header.dump()) + "." + base64url_encode(payload.dump()) + "." + sig;
}

}  // namespace

TEST(GatewayJwt, Base64UrlRoundTrip) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    EXPECT_EQ(base64url_decode(base64url_encode(s)).value(), s);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("a"));
  EXPECT_FALSE(base64url_decode("ab+c"));
  EXPECT_FALSE(base64url_decode("ab=c"));
}

TEST(GatewayJwt, Hs256Valid) {
  auto v = hs_verifier().verify(mint_token("HS256", "s3cret-s3cret-s3cret", claims()));
  ASSERT_TRUE(v.ok) << v.error;
  EXPECT_EQ(v.claims.sub, "0190a6e5-7b1c-7cc3-9b2e-1234567890ab");
  EXPECT_EQ(v.claims.tenant_id, "0190a6e5-7b1c-7cc3-9b2e-0000000000aa");
  EXPECT_EQ(v.claims.role, "admin");
  EXPECT_EQ(v.claims.email, "a@b.test");
}

TEST(GatewayJwt, Hs256WrongSecretOrTampered) {
  auto v = hs_verifier().verify(mint_token("HS256", "another-secret", claims()));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.error, "invalid signature");
  std::string t = mint_token("HS256", "s3cret-s3cret-s3cret", claims());
  json evil = claims();
  evil["role"] = "owner";
  std::string forged =
      t.substr(0, t.find('.')) + "." + base64url_encode(evil.dump()) + t.substr(t.rfind('.'));
  EXPECT_FALSE(hs_verifier().verify(forged).ok);
}

TEST(GatewayJwt, ExpiryWithSkew) {
  auto v = hs_verifier();
  EXPECT_EQ(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", claims(-120))).error,
            "token expired");
  EXPECT_TRUE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", claims(-30))).ok)
      << "60 s of clock skew are accepted";
  json c = claims();
  c.erase("exp");
  EXPECT_EQ(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).error,
            "token has no expiry (exp)");
}

TEST(GatewayJwt, NotBeforeAndIssuedAt) {
  auto v = hs_verifier();
  json c = claims();
  c["nbf"] = now_s() + 120;
  EXPECT_EQ(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).error,
            "token not yet valid (nbf)");
  c["nbf"] = now_s() + 30;
  EXPECT_TRUE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
  c.erase("nbf");
  c["iat"] = now_s() + 300;
  EXPECT_EQ(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).error,
            "token issued in the future (iat)");
  c["iat"] = "yesterday";
  EXPECT_FALSE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
  c["iat"] = now_s();
  c["exp"] = "tomorrow";
  EXPECT_FALSE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
  c["exp"] = -5;
  EXPECT_FALSE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
  c["exp"] = 1e300;
  EXPECT_FALSE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
}

TEST(GatewayJwt, IssuerAndAudienceWhenConfigured) {
  auto v = hs_verifier("https://issuer.example", "coditect");
  json c = claims();
  EXPECT_EQ(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).error, "wrong issuer");
  c["iss"] = "https://evil.example";
  EXPECT_EQ(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).error, "wrong issuer");
  c["iss"] = "https://issuer.example";
  EXPECT_EQ(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).error, "wrong audience");
  c["aud"] = "other";
  EXPECT_EQ(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).error, "wrong audience");
  c["aud"] = "coditect";
  EXPECT_TRUE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
  c["aud"] = json::array({"x", "coditect"});
  EXPECT_TRUE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
  c["aud"] = json::array({"x", 3});
  EXPECT_FALSE(v.verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
  // Not configured: not checked.
  EXPECT_TRUE(hs_verifier().verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
}

TEST(GatewayJwt, SubjectIsRequired) {
  json c = claims();
  c.erase("sub");
  EXPECT_FALSE(hs_verifier().verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
  c["sub"] = 42;
  EXPECT_FALSE(hs_verifier().verify(mint_token("HS256", "s3cret-s3cret-s3cret", c)).ok);
}

TEST(GatewayJwt, AlgNoneIsRejected) {
  auto v = full_verifier();
  for (std::string alg : {"none", "None", "NONE"}) {
    EXPECT_FALSE(v.verify(unsigned_token({{"alg", alg}, {"typ", "JWT"}}, claims(), "")).ok);
    EXPECT_FALSE(v.verify(unsigned_token({{"alg", alg}}, claims(), "c2ln")).ok);
  }
  EXPECT_EQ(v.verify(unsigned_token({{"alg", "none"}}, claims(), "c2ln")).error,
            "algorithm \"none\" is not accepted");
  EXPECT_FALSE(v.verify(unsigned_token({{"alg", "hs256"}}, claims(), "c2ln")).ok);
  EXPECT_FALSE(v.verify(unsigned_token({{"alg", "HS512"}}, claims(), "c2ln")).ok);
}

TEST(GatewayJwt, Rs256AndEs256FromJwks) {
  auto v = full_verifier();
  auto r = v.verify(mint_token("RS256", keys().rsa.private_pem, claims(), "rsa-1"));
  EXPECT_TRUE(r.ok) << r.error;
  auto e = v.verify(mint_token("ES256", keys().ec.private_pem, claims(), "ec-1"));
  EXPECT_TRUE(e.ok) << e.error;
  // Signed by another key with the same kid.
  EXPECT_EQ(v.verify(mint_token("RS256", keys().other_rsa.private_pem, claims(), "rsa-1")).error,
            "invalid signature");
  EXPECT_EQ(v.verify(mint_token("RS256", keys().rsa.private_pem, claims(), "nope")).error,
            "unknown key id");
  // The algorithm follows the key: an RS256 token naming the EC key, and the reverse.
  EXPECT_FALSE(v.verify(mint_token("RS256", keys().rsa.private_pem, claims(), "ec-1")).ok);
  EXPECT_FALSE(v.verify(mint_token("ES256", keys().ec.private_pem, claims(), "rsa-1")).ok);
  EXPECT_FALSE(v.verify(mint_token("RS256", keys().rsa.private_pem, claims(-300), "rsa-1")).ok);
}

TEST(GatewayJwt, AlgorithmConfusionIsRejected) {
  // HS256 signed with the RSA public key as the HMAC secret, with and without the key's kid.
  auto v = full_verifier();
  std::string with_kid = mint_token("HS256", keys().rsa.public_pem, claims(), "rsa-1");
  std::string without_kid = mint_token("HS256", keys().rsa.public_pem, claims());
  EXPECT_EQ(v.verify(with_kid).error, "algorithm HS256 is not accepted for this key");
  EXPECT_EQ(v.verify(without_kid).error, "invalid signature");
  // The normalised PEM the verifier holds, too.
  std::string norm = parse_public_keys(keys().jwks())[0].material;
  EXPECT_FALSE(v.verify(mint_token("HS256", norm, claims(), "rsa-1")).ok);
  EXPECT_FALSE(v.verify(mint_token("HS256", norm, claims())).ok);
  // With only a PEM public key configured (no secret at all).
  JwtSettings s;
  s.public_keys = parse_public_keys(keys().rsa.public_pem);
  TokenVerifier pem_only(s);
  EXPECT_TRUE(pem_only.verify(mint_token("RS256", keys().rsa.private_pem, claims())).ok);
  EXPECT_FALSE(pem_only.verify(mint_token("HS256", keys().rsa.public_pem, claims())).ok);
  EXPECT_FALSE(pem_only.verify(mint_token("HS256", s.public_keys[0].material, claims())).ok);
}

TEST(GatewayJwt, PemKeysAndKidMaps) {
  auto ec = parse_public_keys(keys().ec.public_pem);
  ASSERT_EQ(ec.size(), 1u);
  EXPECT_EQ(ec[0].alg, "ES256");
  EXPECT_EQ(ec[0].kid, "");
  JwtSettings s;
  s.public_keys = ec;
  EXPECT_TRUE(TokenVerifier(s).verify(mint_token("ES256", keys().ec.private_pem, claims())).ok);
  // {kid: PEM}, the shape of Google's published certificates.
  auto map =
      parse_public_keys(json{{"k1", keys().rsa.public_pem}, {"k2", keys().ec.public_pem}}.dump());
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0].kid, "k1");
  EXPECT_EQ(map[0].alg, "RS256");
  EXPECT_EQ(map[1].alg, "ES256");
}

TEST(GatewayJwt, JwksParsing) {
  auto ks = parse_public_keys(keys().jwks());
  ASSERT_EQ(ks.size(), 2u);
  EXPECT_EQ(ks[0].kid, "rsa-1");
  EXPECT_EQ(ks[0].alg, "RS256");
  EXPECT_NE(ks[0].material.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(ks[1].kid, "ec-1");
  EXPECT_EQ(ks[1].alg, "ES256");
  // Encryption keys and symmetric keys are skipped.
  json enc = keys().rsa.jwk;
  enc["use"] = "enc";
  json oct = {{"kty", "oct"}, {"kid", "s"}, {"k", "c2VjcmV0"}};
  auto only_ec = parse_public_keys(json{{"keys", {enc, oct, keys().ec.jwk}}}.dump());
  ASSERT_EQ(only_ec.size(), 1u);
  EXPECT_EQ(only_ec[0].kid, "ec-1");
  // A key whose alg contradicts its type, weak or unsupported keys, garbage.
  json lying = keys().rsa.jwk;
  lying["alg"] = "HS256";
  EXPECT_THROW(parse_public_keys(json{{"keys", {lying}}}.dump()), std::runtime_error);
  EXPECT_THROW(
      parse_public_keys(json{{"keys", {coditect::testkeys::make_rsa("weak", 1024).jwk}}}.dump()),
      std::runtime_error);
  EXPECT_THROW(
      parse_public_keys(json{{"keys", {coditect::testkeys::make_ec("p384", "P-384").jwk}}}.dump()),
      std::runtime_error);
  json bad_point = keys().ec.jwk;
  bad_point["x"] = bad_point["y"];
  EXPECT_THROW(parse_public_keys(json{{"keys", {bad_point}}}.dump()), std::runtime_error);
  EXPECT_THROW(parse_public_keys(json{{"keys", json::array()}}.dump()), std::runtime_error);
  EXPECT_THROW(parse_public_keys("{not json"), std::runtime_error);
  EXPECT_THROW(parse_public_keys("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
               std::runtime_error);
  EXPECT_THROW(parse_public_keys(""), std::runtime_error);
}

TEST(GatewayJwt, GarbageTokens) {
  auto v = full_verifier();
  std::string good = mint_token("HS256", "s3cret-s3cret-s3cret", claims());
  for (std::string t :
       {std::string(), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
        std::string("..."), std::string("!!.??.##"), good + ".x", good.substr(0, good.size() - 1),
        std::string(20000, 'a'), std::string("eyJ.eyJ.eyJ"),
        unsigned_token(json::array({1}), claims(), "c2ln"),
        unsigned_token({{"alg", 5}}, claims(), "c2ln"),
        unsigned_token({{"alg", "HS256"}, {"kid", 5}}, claims(), "c2ln"),
        unsigned_token({{"alg", "HS256"}, {"typ", "JWE"}}, claims(), "c2ln"),
        unsigned_token({{"alg", "HS256"}}, json::array({claims()}), "c2ln"),
        base64url_encode("{\"alg\":\"HS256\"") + "." + base64url_encode("{") + ".c2ln",
        base64url_encode("{\"alg\":\"HS256\"}") + "." + base64url_encode("{\"exp\":1e400}") +
            ".c2ln",
        std::string("e\xff.e\xfe.s")}) {
    auto r = v.verify(t);
    EXPECT_FALSE(r.ok) << t;
    EXPECT_FALSE(r.error.empty());
  }
}
