// Unit tests for the PG-free signed license tokens (src_ext/license_token.hpp) and an end-to-end
// run of the offline verifier tools/coditect-verify-token.
#include "license_token.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#ifndef CODITECT_VERIFY_TOKEN_BIN
#error "CODITECT_VERIFY_TOKEN_BIN must name the coditect-verify-token binary"
#endif

namespace coditect::license_token {
namespace {

// ---------------------------------------------------------------------------------------------
// OpenSSL helpers (keys are generated here, independently of the code under test).

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

Pkey keygen(const char* type) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
  if (!key) throw std::runtime_error(std::string("keygen failed: ") + type);
  return key;
}

Pkey rsa_keygen() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
  if (!key) throw std::runtime_error("RSA keygen failed");
  return key;
}

Pkey ec_keygen() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw std::runtime_error("EC keygen failed");
  return key;
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string private_pem_of(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("PEM_write_bio_PrivateKey failed");
  }
  return bio_string(bio.get());
}

std::string public_pem_of(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    throw std::runtime_error("PEM_write_bio_PUBKEY failed");
  }
  return bio_string(bio.get());
}

std::string openssl_raw_public(EVP_PKEY* key) {
  std::size_t len = 0;
  if (EVP_PKEY_get_raw_public_key(key, nullptr, &len) != 1) throw std::runtime_error("raw len");
  std::string raw(len, '\0');
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1) {
    throw std::runtime_error("raw key");
  }
  return raw;
}

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

Pkey ed25519_from_seed(std::string_view hex_seed) {
  std::string seed = unhex(hex_seed);
  Pkey key(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
  if (!key) throw std::runtime_error("EVP_PKEY_new_raw_private_key failed");
  return key;
}

// One Ed25519 key (and a second, unrelated one) for the whole test program.
struct TestKey {
  Pkey pkey;
  std::string private_pem;
  std::string public_pem;
  Signer signer;

  explicit TestKey(Pkey key)
      : pkey(std::move(key)),
        private_pem(private_pem_of(pkey.get())),
        public_pem(public_pem_of(pkey.get())),
        signer(Signer::from_pem(private_pem)) {}
};

const TestKey& test_key() {
  static const TestKey key(keygen("ED25519"));
  return key;
}

const TestKey& other_key() {
  static const TestKey key(keygen("ED25519"));
  return key;
}

constexpr std::int64_t kIssued = 1700000000;
constexpr std::int64_t kExpires = 1700086400;

Claims sample_claims() {
  Claims c;
  c.license_id = "0190f0c2-7d6a-7b3e-8f00-0123456789ab";
  c.tenant_id = "0190f0c2-7d6a-7b3e-8f00-ba9876543210";
  c.tier = "pro";
  c.features = {"ai", "sync"};
  c.session_id = "0190f0c2-7d6a-7b3e-8f00-00000000beef";
  c.hardware_id = "hw-1";
  c.issued_at = kIssued;
  c.expires_at = kExpires;
  c.key_id = "k2024";
  return c;
}

void expect_claims_eq(const Claims& a, const Claims& b) {
  EXPECT_EQ(a.license_id, b.license_id);
  EXPECT_EQ(a.tenant_id, b.tenant_id);
  EXPECT_EQ(a.tier, b.tier);
  EXPECT_EQ(a.features, b.features);
  EXPECT_EQ(a.session_id, b.session_id);
  EXPECT_EQ(a.hardware_id, b.hardware_id);
  EXPECT_EQ(a.issued_at, b.issued_at);
  EXPECT_EQ(a.expires_at, b.expires_at);
  EXPECT_EQ(a.key_id, b.key_id);
}

struct Parts {
  std::string payload;    // base64url
  std::string signature;  // base64url
};

Parts split(const std::string& token) {
  auto dot = token.find('.');
  return {token.substr(0, dot), token.substr(dot + 1)};
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xFF);
  return out;
}

// ---------------------------------------------------------------------------------------------
// base64url

TEST(Base64UrlTest, Rfc4648Vectors) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  // The URL-safe alphabet: standard base64 of FB FF BF is "+/+/".
  EXPECT_EQ(base64url_encode("\xFB\xFF\xBF"), "-_-_");
  EXPECT_EQ(base64url_encode("\xFB\xFF"), "-_8");
  EXPECT_EQ(base64url_decode("Zm9vYmFy"), std::optional<std::string>("foobar"));
  EXPECT_EQ(base64url_decode("-_-_"), std::optional<std::string>("\xFB\xFF\xBF"));
  EXPECT_EQ(base64url_decode(""), std::optional<std::string>(""));
}

TEST(Base64UrlTest, RoundTripsAllLengthsWithoutPadding) {
  std::mt19937 rng(11);
  for (std::size_t len = 0; len <= 40; ++len) {
    for (int trial = 0; trial < 50; ++trial) {
      std::string bytes = random_bytes(rng, len);
      std::string text = base64url_encode(bytes);
      EXPECT_EQ(text.size(), (len * 4 + 2) / 3) << "len=" << len;
      EXPECT_EQ(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_"),
                std::string::npos)
          << text;
      auto back = base64url_decode(text);
      ASSERT_TRUE(back.has_value()) << "len=" << len << " text=" << text;
      EXPECT_EQ(*back, bytes) << "len=" << len;
    }
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(base64url_decode(base64url_encode(all)), std::optional<std::string>(all));
}

TEST(Base64UrlTest, RejectsPaddingStandardAlphabetAndBadLengths) {
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "Zg==", "Zm8=", "Zg=", "Zm9v====", "=", "+/8", "ab+c", "ab/c", "Zm9v Zg", "Zm9v\n",
           "Zm.v", "Zm9v\xC3\xA9", std::string_view("Z\0g", 3),
           // length % 4 == 1 can hold no whole number of bytes
           "A", "Zm9vY", "Zm9vYmFyZ"}) {
    EXPECT_FALSE(base64url_decode(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Base64UrlTest, RejectsNonCanonicalTrailingBits) {
  // "Zg" is 'f'; "Zh".."Zv" differ only in the 4 unused trailing bits.
  EXPECT_TRUE(base64url_decode("Zg").has_value());
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "Zh", "Zi", "Zv", "Zm9", "Zm-", "Zm_", "Zm9vYh", "Zm9vYmF"}) {
    EXPECT_FALSE(base64url_decode(bad).has_value()) << bad;
  }
  // Exhaustively: a 2- or 3-symbol text decodes iff it is the encoding of what it decodes to.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int accepted2 = 0;
  int accepted3 = 0;
  for (char a : alphabet) {
    for (char b : alphabet) {
      std::string t2{a, b};
      auto d2 = base64url_decode(t2);
      if (d2) {
        ++accepted2;
        EXPECT_EQ(d2->size(), 1u);
        EXPECT_EQ(base64url_encode(*d2), t2);
      }
      for (char c : alphabet) {
        std::string t3{a, b, c};
        auto d3 = base64url_decode(t3);
        if (d3) {
          ++accepted3;
          EXPECT_EQ(d3->size(), 2u);
          EXPECT_EQ(base64url_encode(*d3), t3);
        }
      }
    }
  }
  EXPECT_EQ(accepted2, 256);
  EXPECT_EQ(accepted3, 65536);
}

// ---------------------------------------------------------------------------------------------
// Payload JSON

TEST(PayloadTest, ExactEncodingOfFixedClaims) {
  EXPECT_EQ(encode_payload(sample_claims()),
            R"({"lic":"0190f0c2-7d6a-7b3e-8f00-0123456789ab",)"
            R"("ten":"0190f0c2-7d6a-7b3e-8f00-ba9876543210","tier":"pro","feat":["ai","sync"],)"
            R"("ses":"0190f0c2-7d6a-7b3e-8f00-00000000beef","hw":"hw-1","iat":1700000000,)"
            R"("exp":1700086400,"kid":"k2024"})");
  Claims empty;
  EXPECT_EQ(encode_payload(empty),
            R"({"lic":"","ten":"","tier":"","feat":[],"ses":"","hw":"","iat":0,"exp":0,"kid":""})");
}

TEST(PayloadTest, RoundTrip) {
  Claims c = sample_claims();
  expect_claims_eq(decode_payload(encode_payload(c)), c);

  Claims odd;
  odd.license_id = "quote \" backslash \\ newline \n tab \t";
  odd.tenant_id = "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC";  // UTF-8
  odd.tier = "";
  odd.features = {};
  odd.session_id = "{\"not\":\"json\"}";
  odd.hardware_id = std::string("nul\0inside", 10);
  odd.issued_at = -1;
  odd.expires_at = INT64_MAX;
  odd.key_id = "</script>";
  expect_claims_eq(decode_payload(encode_payload(odd)), odd);

  c.features = {"a", "b", "c", "a"};  // order and duplicates kept
  expect_claims_eq(decode_payload(encode_payload(c)), c);
}

TEST(PayloadTest, DecodeIgnoresFieldOrderAndWhitespace) {
  Claims c = decode_payload(
      R"( { "kid" : "k", "exp" : 20, "iat" : 10, "hw" : "h", "ses" : "s", "feat" : [ "x" ],
            "tier" : "t", "ten" : "n", "lic" : "l" } )");
  EXPECT_EQ(c.license_id, "l");
  EXPECT_EQ(c.tenant_id, "n");
  EXPECT_EQ(c.tier, "t");
  EXPECT_EQ(c.features, std::vector<std::string>{"x"});
  EXPECT_EQ(c.session_id, "s");
  EXPECT_EQ(c.hardware_id, "h");
  EXPECT_EQ(c.issued_at, 10);
  EXPECT_EQ(c.expires_at, 20);
  EXPECT_EQ(c.key_id, "k");
}

TEST(PayloadTest, DecodeRejectsNonObjects) {
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "", "not json", "[]", "[1,2]", "\"lic\"", "42", "null", "true", "{", R"({"lic":"a")",
           R"({"lic":"a"} trailing)"}) {
    EXPECT_THROW(decode_payload(bad), std::invalid_argument) << "'" << bad << "'";
  }
}

TEST(PayloadTest, DecodeRejectsMissingFields) {
  const nlohmann::json full = nlohmann::json::parse(encode_payload(sample_claims()));
  ASSERT_NO_THROW(decode_payload(full.dump()));
  for (const char* field : {"lic", "ten", "tier", "feat", "ses", "hw", "iat", "exp", "kid"}) {
    nlohmann::json j = full;
    ASSERT_EQ(j.erase(field), 1u) << field;
    EXPECT_THROW(decode_payload(j.dump()), std::invalid_argument) << "without " << field;
  }
  EXPECT_THROW(decode_payload("{}"), std::invalid_argument);
}

TEST(PayloadTest, DecodeRejectsWrongTypes) {
  const nlohmann::json full = nlohmann::json::parse(encode_payload(sample_claims()));
  struct Case {
    const char* field;
    nlohmann::json value;
  };
  const std::vector<Case> cases = {
      {"lic", 1},
      {"lic", nullptr},
      {"lic", nlohmann::json::array({"a"})},
      {"ten", false},
      {"tier", nlohmann::json::object()},
      {"feat", "ai"},
      {"feat", nlohmann::json::array({1, 2})},
      {"feat", nlohmann::json::array({"ai", nullptr})},
      {"feat", nullptr},
      {"ses", 3.5},
      {"hw", nullptr},
      {"iat", "1700000000"},
      {"iat", nullptr},
      {"iat", true},
      {"exp", "1700086400"},
      {"exp", nlohmann::json::array({1})},
      {"exp", false},
      {"kid", 7},
  };
  for (const Case& c : cases) {
    nlohmann::json j = full;
    j[c.field] = c.value;
    EXPECT_THROW(decode_payload(j.dump()), std::invalid_argument) << j.dump();
  }
}

TEST(PayloadTest, ParseFeatures) {
  EXPECT_EQ(parse_features("[]"), std::vector<std::string>{});
  EXPECT_EQ(parse_features(R"(["ai","sync"])"), (std::vector<std::string>{"ai", "sync"}));
  EXPECT_EQ(parse_features(R"( [ "x" , "y" , "x" ] )"), (std::vector<std::string>{"x", "y", "x"}));
  EXPECT_EQ(parse_features(R"(["\u00e9"])"), std::vector<std::string>{"\xC3\xA9"});
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "", "not json", "{}", R"({"a":"b"})", R"("ai")", "null", "[1]", R"(["ai",null])",
           R"([["ai"]])", R"(["ai",true])", "[", "[\"ai\""}) {
    EXPECT_THROW(parse_features(bad), std::invalid_argument) << "'" << bad << "'";
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and signatures

TEST(SignerTest, PublicKeyMatchesOpenSsl) {
  const TestKey& k = test_key();
  EXPECT_EQ(k.signer.public_key().size(), 32u);
  EXPECT_EQ(k.signer.public_key(), openssl_raw_public(k.pkey.get()));
  EXPECT_EQ(k.signer.public_key_pem(), k.public_pem);
  EXPECT_NE(k.signer.public_key(), other_key().signer.public_key());
}

TEST(SignerTest, SignaturesAre64BytesAndDeterministic) {
  const Signer& s = test_key().signer;
  for (std::string_view msg : std::initializer_list<std::string_view>{
           std::string_view(""), std::string_view("x"),
           std::string_view("a longer message with \0 inside", 31)}) {
    std::string a = s.sign(msg);
    EXPECT_EQ(a.size(), 64u);
    EXPECT_EQ(s.sign(msg), a) << "Ed25519 is deterministic";
  }
  EXPECT_NE(s.sign("a"), s.sign("b"));
  EXPECT_NE(s.sign("a"), other_key().signer.sign("a"));
  // A copy of the signer shares the key.
  Signer copy = s;
  EXPECT_EQ(copy.sign("a"), s.sign("a"));
}

TEST(SignerTest, Rfc8032TestVectors) {
  struct Vector {
    const char* seed;
    const char* public_key;
    const char* message;
    const char* signature;
  };
  const Vector vectors[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701c"
       "f9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0"
       "f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
  };
  for (const Vector& v : vectors) {
    Pkey key = ed25519_from_seed(v.seed);
    Signer s = Signer::from_pem(private_pem_of(key.get()));
    EXPECT_EQ(hex(s.public_key()), v.public_key);
    EXPECT_EQ(hex(s.sign(unhex(v.message))), v.signature);
    EXPECT_EQ(hex(raw_public_key_from_pem(public_pem_of(key.get()))), v.public_key);
  }
}

TEST(SignerTest, FromPemRejectsOtherKeysAndGarbage) {
  Pkey rsa = rsa_keygen();
  Pkey ec = ec_keygen();
  Pkey x25519 = keygen("X25519");  // also 32-byte raw keys, but for key agreement
  Pkey ed448 = keygen("ED448");
  for (const std::string& pem : {private_pem_of(rsa.get()), private_pem_of(ec.get()),
                                 private_pem_of(x25519.get()), private_pem_of(ed448.get())}) {
    EXPECT_THROW(Signer::from_pem(pem), std::runtime_error) << pem.substr(0, 40);
  }
  const std::string good = test_key().private_pem;
  for (const std::string& bad : {
           std::string(""), std::string("garbage"),
           std::string("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
           good.substr(0, good.size() / 2),
           test_key().public_pem,  // a public key cannot sign
       }) {
    EXPECT_THROW(Signer::from_pem(bad), std::runtime_error) << "'" << bad << "'";
  }
}

TEST(SignerTest, RawPublicKeyFromPem) {
  const TestKey& k = test_key();
  const std::string expected = k.signer.public_key();
  EXPECT_EQ(raw_public_key_from_pem(k.public_pem), expected);
  EXPECT_EQ(raw_public_key_from_pem(k.private_pem), expected);
  EXPECT_EQ(raw_public_key_from_pem(k.signer.public_key_pem()), expected);
  EXPECT_EQ(raw_public_key_from_pem(other_key().public_pem), other_key().signer.public_key());

  Pkey rsa = rsa_keygen();
  Pkey x25519 = keygen("X25519");
  for (const std::string& bad :
       {std::string(""), std::string("garbage"), public_pem_of(rsa.get()),
        private_pem_of(rsa.get()), public_pem_of(x25519.get()), private_pem_of(x25519.get()),
        base64url_encode(expected)}) {  // the raw base64url form is not PEM
    EXPECT_THROW(raw_public_key_from_pem(bad), std::runtime_error) << "'" << bad << "'";
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

TEST(TokenTest, MakeTokenIsPayloadDotSignature) {
  const Signer& s = test_key().signer;
  const std::string payload = encode_payload(sample_claims());
  const std::string token = make_token(sample_claims(), s);
  EXPECT_EQ(token, base64url_encode(payload) + "." + base64url_encode(s.sign(payload)));
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 1);
  Parts p = split(token);
  EXPECT_EQ(base64url_decode(p.payload), std::optional<std::string>(payload));
  EXPECT_EQ(p.signature.size(), 86u);  // 64 bytes, unpadded
}

TEST(TokenTest, ValidTokenVerifies) {
  const std::string token = make_token(sample_claims(), test_key().signer);
  const std::string pub = test_key().signer.public_key();
  for (std::int64_t now : {kIssued, kIssued - 100000, kExpires - 1, std::int64_t{0}, INT64_MIN}) {
    Verification v = verify(token, pub, now);
    EXPECT_EQ(v.verdict, Verdict::Valid) << "now=" << now << " " << verdict_name(v.verdict);
    expect_claims_eq(v.claims, sample_claims());
  }
}

TEST(TokenTest, ExpiryIsExclusive) {
  const std::string token = make_token(sample_claims(), test_key().signer);
  const std::string pub = test_key().signer.public_key();
  EXPECT_EQ(verify(token, pub, kExpires - 1).verdict, Verdict::Valid);
  for (std::int64_t now : {kExpires, kExpires + 1, INT64_MAX}) {
    Verification v = verify(token, pub, now);
    EXPECT_EQ(v.verdict, Verdict::Expired) << "now=" << now;
    expect_claims_eq(v.claims, sample_claims());  // claims still reported
  }
}

TEST(TokenTest, SignatureCoversTheExactPayloadBytes) {
  // A differently formatted but signed payload verifies: the bytes are checked, not re-encoded.
  const std::string payload =
      R"({ "kid":"k2024", "lic":"L", "ten":"T", "tier":"pro", "feat":[], "ses":"S", "hw":"H",)"
      R"( "iat":1, "exp":1700086400 })";
  const Signer& s = test_key().signer;
  const std::string token = base64url_encode(payload) + "." + base64url_encode(s.sign(payload));
  Verification v = verify(token, s.public_key(), kIssued);
  EXPECT_EQ(v.verdict, Verdict::Valid);
  EXPECT_EQ(v.claims.license_id, "L");
  EXPECT_EQ(key_id_of(token), std::optional<std::string>("k2024"));
}

TEST(TokenTest, TamperedPayloadIsBadSignature) {
  const Signer& s = test_key().signer;
  const std::string token = make_token(sample_claims(), s);
  const Parts parts = split(token);
  const std::string payload = *base64url_decode(parts.payload);

  // Meaningful edits that still decode as claims.
  auto with_payload = [&](const std::string& p) {
    return base64url_encode(p) + "." + parts.signature;
  };
  std::string later = payload;
  later.replace(later.find("1700086400"), 10, "1900086400");
  std::string tier = payload;
  tier.replace(tier.find("\"pro\""), 5, "\"ent\"");
  std::string one_byte = payload;
  one_byte[one_byte.find("hw-1") + 3] = '2';
  for (const std::string& p : {later, tier, one_byte}) {
    ASSERT_NE(p, payload);
    Verification v = verify(with_payload(p), s.public_key(), kIssued);
    EXPECT_EQ(v.verdict, Verdict::BadSignature) << p;
  }

  // Every single-bit change of the payload bytes is rejected, never Valid.
  for (std::size_t i = 0; i < payload.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string p = payload;
      p[i] = static_cast<char>(p[i] ^ (1 << bit));
      Verdict got = verify(with_payload(p), s.public_key(), kIssued).verdict;
      EXPECT_TRUE(got == Verdict::BadSignature || got == Verdict::Malformed)
          << "byte " << i << " bit " << bit << " -> " << verdict_name(got);
    }
  }

  // Every change of one character of the base64url payload part is rejected, never Valid.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (std::size_t i = 0; i < parts.payload.size(); ++i) {
    std::string t = token;
    t[i] = alphabet[(alphabet.find(t[i]) + 1 + i % 63) % 64];
    ASSERT_NE(t, token);
    EXPECT_NE(verify(t, s.public_key(), kIssued).verdict, Verdict::Valid) << "pos " << i;
  }
}

TEST(TokenTest, TamperedSignatureIsBadSignature) {
  const Signer& s = test_key().signer;
  const std::string token = make_token(sample_claims(), s);
  const Parts parts = split(token);
  const std::string sig = *base64url_decode(parts.signature);
  ASSERT_EQ(sig.size(), 64u);
  for (std::size_t i = 0; i < sig.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = sig;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      Verification v = verify(parts.payload + "." + base64url_encode(bad), s.public_key(), kIssued);
      EXPECT_EQ(v.verdict, Verdict::BadSignature) << "byte " << i << " bit " << bit;
    }
  }
  // Wrong lengths and the signature of another message.
  for (const std::string& bad :
       {std::string(), sig.substr(0, 63), sig + '\0', std::string(64, '\0'), s.sign("other")}) {
    Verification v = verify(parts.payload + "." + base64url_encode(bad), s.public_key(), kIssued);
    EXPECT_EQ(v.verdict, Verdict::BadSignature) << "signature of " << bad.size() << " bytes";
  }
}

TEST(TokenTest, WrongPublicKeyIsBadSignature) {
  const std::string token = make_token(sample_claims(), test_key().signer);
  EXPECT_EQ(verify(token, other_key().signer.public_key(), kIssued).verdict, Verdict::BadSignature);
  // Signed by the other key, checked with ours.
  const std::string theirs = make_token(sample_claims(), other_key().signer);
  EXPECT_EQ(verify(theirs, test_key().signer.public_key(), kIssued).verdict, Verdict::BadSignature);
  // Keys of the wrong size, and the PEM text instead of raw bytes.
  const std::string pub = test_key().signer.public_key();
  for (const std::string& key : {std::string(), pub.substr(0, 31), pub + '\0',
                                 base64url_encode(pub), test_key().public_pem}) {
    EXPECT_EQ(verify(token, key, kIssued).verdict, Verdict::BadSignature)
        << "key of " << key.size() << " bytes";
  }
}

TEST(TokenTest, BadSignatureTakesPrecedenceOverExpiry) {
  const std::string token = make_token(sample_claims(), test_key().signer);
  EXPECT_EQ(verify(token, other_key().signer.public_key(), kExpires + 1).verdict,
            Verdict::BadSignature);
}

TEST(TokenTest, MalformedTokens) {
  const Signer& s = test_key().signer;
  const std::string token = make_token(sample_claims(), s);
  const Parts parts = split(token);
  const std::string not_claims = R"({"lic":"only"})";
  const std::string sig_of_not_claims = base64url_encode(s.sign(not_claims));
  for (const std::string& bad : {
           std::string(""),
           std::string("."),
           std::string(".."),
           std::string("garbage"),
           parts.payload,                           // missing dot
           parts.payload + parts.signature,         // missing dot
           token + ".",                             // two dots
           token + "." + parts.signature,           // three parts
           parts.payload + ".." + parts.signature,  // two dots
           "." + parts.signature,                   // empty payload
           parts.payload + "=." + parts.signature,  // padding
           parts.payload + "." + parts.signature + "=",
           parts.payload.substr(1) + "." + parts.signature,  // length % 4 == 1 or shifted JSON
           " " + token,
           token + "\n",
           // A correctly signed payload that is not claims.
           base64url_encode(not_claims) + "." + sig_of_not_claims,
           base64url_encode("[]") + "." + base64url_encode(s.sign("[]")),
       }) {
    Verification v = verify(bad, s.public_key(), kIssued);
    EXPECT_EQ(v.verdict, Verdict::Malformed) << "'" << bad << "' -> " << verdict_name(v.verdict);
  }
}

TEST(TokenTest, KeyIdOf) {
  const std::string token = make_token(sample_claims(), test_key().signer);
  EXPECT_EQ(key_id_of(token), std::optional<std::string>("k2024"));
  Claims c = sample_claims();
  c.key_id = "";
  EXPECT_EQ(key_id_of(make_token(c, test_key().signer)), std::optional<std::string>(""));
  // Known without checking the signature: the verifier uses it to pick the key.
  const Parts parts = split(token);
  EXPECT_EQ(key_id_of(parts.payload + ".AAAA"), std::optional<std::string>("k2024"));
  for (const std::string& bad :
       {std::string(""), std::string("garbage"), std::string("."), parts.payload, "=" + token,
        base64url_encode("{}") + ".AAAA", base64url_encode("null") + ".AAAA"}) {
    EXPECT_EQ(key_id_of(bad), std::nullopt) << "'" << bad << "'";
  }
}

TEST(TokenTest, VerdictNames) {
  EXPECT_STREQ(verdict_name(Verdict::Valid), "valid");
  EXPECT_STREQ(verdict_name(Verdict::Malformed), "malformed");
  EXPECT_STREQ(verdict_name(Verdict::BadSignature), "bad_signature");
  EXPECT_STREQ(verdict_name(Verdict::Expired), "expired");
}

// ---------------------------------------------------------------------------------------------
// The offline verifier binary, run end to end.

class VerifyTokenCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ =
        (std::filesystem::temp_directory_path() / "coditect-verify-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  std::string write(const std::string& name, const std::string& content) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }

  // Runs the verifier with `args` (already quoted); returns its exit code, keeps its output.
  int run(const std::string& args, const std::string& stdin_text = "") {
    std::string in = write("stdin", stdin_text);
    std::string cmd = quote(CODITECT_VERIFY_TOKEN_BIN) + " " + args + " <" + quote(in) + " >" +
                      quote((dir_ / "stdout").string()) + " 2>" + quote((dir_ / "stderr").string());
    int status = std::system(cmd.c_str());
    stdout_ = read("stdout");
    stderr_ = read("stderr");
    if (status == -1 || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }

  std::string read(const std::string& name) {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
  }

  nlohmann::json output() { return nlohmann::json::parse(stdout_); }

  std::filesystem::path dir_;
  std::string stdout_;
  std::string stderr_;
};

TEST_F(VerifyTokenCliTest, ExitCodesAndOutput) {
  const TestKey& k = test_key();
  const std::string token = make_token(sample_claims(), k.signer);
  const std::string pem = quote(write("pub.pem", k.public_pem));
  const std::string raw = quote(write("pub.b64", base64url_encode(k.signer.public_key()) + "\n"));
  const std::string wrong = quote(write("other.pem", other_key().public_pem));
  const std::string now = " --now " + std::to_string(kIssued) + " ";

  // Valid, with the PEM and with the raw base64url key.
  EXPECT_EQ(run("--public-key " + pem + now + quote(token)), 0) << stderr_;
  nlohmann::json out = output();
  EXPECT_EQ(out["valid"], true);
  EXPECT_EQ(out["verdict"], "valid");
  EXPECT_EQ(out["claims"], nlohmann::json::parse(encode_payload(sample_claims())));
  EXPECT_EQ(run("--public-key " + raw + now + quote(token)), 0) << stderr_;
  EXPECT_EQ(output()["verdict"], "valid");
  EXPECT_EQ(run("--public-key=" + raw + " --now=" + std::to_string(kIssued) + " " + quote(token)),
            0)
      << stderr_;
  // The private PEM also holds the public half.
  EXPECT_EQ(run("--public-key " + quote(write("priv.pem", k.private_pem)) + now + quote(token)), 0)
      << stderr_;

  // Token from stdin.
  EXPECT_EQ(run("--public-key " + pem + now + "-", token + "\n"), 0) << stderr_;
  EXPECT_EQ(output()["verdict"], "valid");

  // Without --now the clock is used.
  Claims fresh = sample_claims();
  fresh.expires_at = static_cast<std::int64_t>(std::time(nullptr)) + 3600;
  EXPECT_EQ(run("--public-key " + pem + " " + quote(make_token(fresh, k.signer))), 0) << stderr_;
  Claims stale = sample_claims();
  stale.expires_at = static_cast<std::int64_t>(std::time(nullptr)) - 60;
  EXPECT_EQ(run("--public-key " + pem + " " + quote(make_token(stale, k.signer))), 1);
  EXPECT_EQ(output()["verdict"], "expired");

  // Tampered payload.
  Parts parts = split(token);
  std::string payload = *base64url_decode(parts.payload);
  payload.replace(payload.find("\"pro\""), 5, "\"ent\"");
  const std::string tampered = base64url_encode(payload) + "." + parts.signature;
  EXPECT_EQ(run("--public-key " + pem + now + quote(tampered)), 1);
  out = output();
  EXPECT_EQ(out["valid"], false);
  EXPECT_EQ(out["verdict"], "bad_signature");
  EXPECT_EQ(out["claims"]["tier"], "ent");

  // Expired: --now far in the future.
  EXPECT_EQ(run("--public-key " + pem + " --now 4102444800 " + quote(token)), 1);
  out = output();
  EXPECT_EQ(out["valid"], false);
  EXPECT_EQ(out["verdict"], "expired");
  EXPECT_EQ(out["claims"]["exp"], kExpires);

  // Wrong key, malformed token.
  EXPECT_EQ(run("--public-key " + wrong + now + quote(token)), 1);
  EXPECT_EQ(output()["verdict"], "bad_signature");
  EXPECT_EQ(run("--public-key " + pem + now + "garbage"), 1);
  out = output();
  EXPECT_EQ(out["verdict"], "malformed");
  EXPECT_FALSE(out.contains("claims"));
  EXPECT_EQ(run("--public-key " + pem + now + "-", ""), 1);
  EXPECT_EQ(output()["verdict"], "malformed");
}

TEST_F(VerifyTokenCliTest, UsageErrors) {
  const TestKey& k = test_key();
  const std::string token = quote(make_token(sample_claims(), k.signer));
  const std::string pem = quote(write("pub.pem", k.public_pem));

  EXPECT_EQ(run(""), 2);
  EXPECT_TRUE(stdout_.empty());
  EXPECT_FALSE(stderr_.empty());
  EXPECT_EQ(run(token), 2);                                              // no key
  EXPECT_EQ(run("--public-key " + pem), 2);                              // no token
  EXPECT_EQ(run("--public-key"), 2);                                     // option without value
  EXPECT_EQ(run("--public-key " + pem + " " + token + " " + token), 2);  // two tokens
  EXPECT_EQ(run("--public-key " + pem + " --bogus " + token), 2);
  EXPECT_EQ(run("--public-key " + pem + " --now soon " + token), 2);
  EXPECT_EQ(run("--public-key " + pem + " --now 12x " + token), 2);
  EXPECT_EQ(run("--public-key " + quote((dir_ / "missing.pem").string()) + " " + token), 2);
  EXPECT_EQ(run("--public-key " + quote(write("bad.pem", "not a key\n")) + " " + token), 2);
  EXPECT_EQ(run("--public-key " + quote(write("short.b64", "AAAA\n")) + " " + token), 2);
  EXPECT_EQ(run("--public-key " + quote(write("rsa.pem", public_pem_of(rsa_keygen().get()))) + " " +
                token),
            2);

  EXPECT_EQ(run("--help"), 0);
  EXPECT_NE(stdout_.find("Usage: coditect-verify-token"), std::string::npos) << stdout_;
  EXPECT_EQ(run("-h"), 0);
}

}  // namespace
}  // namespace coditect::license_token

namespace {

std::string payload_with(const std::string& exp_json) {
  return "{\"lic\":\"l\",\"ten\":\"t\",\"tier\":\"PRO\",\"feat\":[],\"ses\":\"s\",\"hw\":\"h\","
         "\"iat\":1,\"exp\":" +
         exp_json + ",\"kid\":\"k\"}";
}

}  // namespace

TEST(LicenseTokenPayload, RejectsNonIntegerAndOutOfRangeTimes) {
  using coditect::license_token::decode_payload;
  EXPECT_EQ(decode_payload(payload_with("2")).expires_at, 2);
  EXPECT_THROW(decode_payload(payload_with("2.5")), std::invalid_argument);
  EXPECT_THROW(decode_payload(payload_with("18446744073709551615")), std::invalid_argument);
  EXPECT_THROW(decode_payload(payload_with("\"2\"")), std::invalid_argument);
}

TEST(LicenseTokenPayload, KeyIdNeedsExactlyOneDot) {
  using coditect::license_token::base64url_encode;
  using coditect::license_token::key_id_of;
  const std::string part = base64url_encode(payload_with("2"));
  EXPECT_EQ(key_id_of(part + ".AA"), std::optional<std::string>("k"));
  EXPECT_EQ(key_id_of(part + ".AA.BB"), std::nullopt);
  EXPECT_EQ(key_id_of(part), std::nullopt);
}

TEST(LicenseTokenPayload, InvalidUtf8IsReplacedNotThrown) {
  coditect::license_token::Claims c;
  c.hardware_id = "\xFF";
  EXPECT_NO_THROW(coditect::license_token::encode_payload(c));
}
