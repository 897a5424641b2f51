// Flags and environment.
#include <gtest/gtest.h>

#include <map>

#include "config.hpp"

using namespace coditect::gateway;

namespace {
const char* kSecret = "0123456789abcdef0123456789abcdef";  // 32 bytes, the shortest accepted
std::map<std::string, std::string>* g_env;
char* fake_getenv(const char* name) {
  auto it = g_env->find(name);
  return it == g_env->end() ? nullptr : it->second.data();
}
}  // namespace

TEST(GatewayConfig, EnvironmentAndFlags) {
  std::map<std::string, std::string> env = {{"CODITECT_DATABASE_URL", "postgresql:///x"},
                                            {"CODITECT_JWT_SECRET", kSecret},
                                            {"CODITECT_THREADS", "4"},
                                            {"CODITECT_LISTEN", "0.0.0.0:9000"}};
  g_env = &env;
  Config c;
  ASSERT_FALSE(parse_config({"--threads", "6", "--timeout-ms=2500"}, c, fake_getenv));
  EXPECT_EQ(c.database_url, "postgresql:///x");
  EXPECT_EQ(c.threads, 6) << "a flag wins over the environment";
  EXPECT_EQ(c.pool_size, 6);
  EXPECT_EQ(c.timeout_ms, 2500);
  EXPECT_EQ(c.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.max_request_bytes, 1 << 20);
}

TEST(GatewayConfig, Errors) {
  std::map<std::string, std::string> env;
  g_env = &env;
  Config c;
  EXPECT_TRUE(parse_config({}, c, fake_getenv)) << "no database URL";
  c = Config{};
  EXPECT_TRUE(parse_config({"--database-url", "x"}, c, fake_getenv)) << "no key";
  c = Config{};
  EXPECT_TRUE(parse_config({"--database-url", "x", "--jwt-secret", kSecret, "--threads", "0"}, c,
                           fake_getenv));
  c = Config{};
  EXPECT_TRUE(parse_config({"--nope", "1"}, c, fake_getenv));
  c = Config{};
  EXPECT_TRUE(parse_config({"--database-url"}, c, fake_getenv));
  c = Config{};
  env["CODITECT_POOL_SIZE"] = "many";
  EXPECT_TRUE(parse_config({"--database-url", "x", "--jwt-secret", kSecret}, c, fake_getenv));
  c = Config{};
  env.clear();
  ASSERT_FALSE(parse_config({"--help"}, c, fake_getenv));
  EXPECT_TRUE(c.help);
  EXPECT_NE(usage().find("CODITECT_MAX_REQUEST_BYTES"), std::string::npos);
}

TEST(GatewayConfig, MintDevToken) {
  std::map<std::string, std::string> env = {{"CODITECT_JWT_SECRET", kSecret}};
  g_env = &env;
  Config c;
  ASSERT_FALSE(parse_config({"--mint-dev-token", "--sub", "u", "--tenant", "t"}, c, fake_getenv));
  EXPECT_TRUE(c.mint_dev_token);
  EXPECT_EQ(c.mint_role, "owner");
  c = Config{};
  EXPECT_TRUE(parse_config({"--mint-dev-token", "--tenant", "t"}, c, fake_getenv));
}

TEST(GatewayConfig, ShortHs256SecretsAreRefused) {
  std::map<std::string, std::string> env = {{"CODITECT_DATABASE_URL", "x"}};
  g_env = &env;
  for (std::string secret : {"s", "0123456789abcdef0123456789abcde"}) {
    Config c;
    auto err = parse_config({"--jwt-secret", secret}, c, fake_getenv);
    ASSERT_TRUE(err) << secret.size() << " bytes";
    EXPECT_NE(err->find("at least 32"), std::string::npos) << *err;
    c = Config{};
    EXPECT_TRUE(
        parse_config({"--mint-dev-token", "--sub", "u", "--jwt-secret", secret}, c, fake_getenv))
        << "no token is minted with it either";
  }
  Config c;
  EXPECT_FALSE(parse_config({"--jwt-secret", kSecret}, c, fake_getenv));
  c = Config{};
  EXPECT_FALSE(parse_config({"--jwks-file", "/k.json"}, c, fake_getenv)) << "no secret at all";
}

TEST(GatewayConfig, MaxConnectionsAndPublicUrl) {
  std::map<std::string, std::string> env = {{"CODITECT_DATABASE_URL", "x"},
                                            {"CODITECT_JWT_SECRET", kSecret},
                                            {"CODITECT_MAX_CONNECTIONS", "100"},
                                            {"CODITECT_PUBLIC_URL", "https://api.example.com/"}};
  g_env = &env;
  Config c;
  ASSERT_FALSE(parse_config({}, c, fake_getenv));
  EXPECT_EQ(c.max_connections, 100);
  EXPECT_EQ(c.public_url, "https://api.example.com") << "without the trailing slash";
  for (std::string bad :
       std::vector<std::string>{"api.example.com", "ftp://x.example", "https://a b",
                                "https://x/?q=1", std::string("https://x\r\nSet-Cookie: a"), "0"}) {
    c = Config{};
    env["CODITECT_PUBLIC_URL"] = bad;
    EXPECT_TRUE(parse_config({}, c, fake_getenv)) << bad;
  }
  env.erase("CODITECT_PUBLIC_URL");
  c = Config{};
  EXPECT_TRUE(parse_config({"--max-connections", "0"}, c, fake_getenv));
  // The cap keeps the pool and the gateway's own descriptors under the open-file limit.
  EXPECT_EQ(connection_cap(4096, 1048576, 8, 8), 4096);
  EXPECT_EQ(connection_cap(4096, 1024, 8, 8), 1024 - 8 - 32 - 64);
  EXPECT_EQ(connection_cap(4096, 50, 8, 8), 1);
}
