// The route table, matching, and the OpenAPI document built from it; flags and environment.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "config.hpp"
#include "routes.hpp"

using namespace coditect::gateway;
using nlohmann::json;

TEST(GatewayRoutes, MatchWithIds) {
  auto m = match_route("GET", "/api/v1/projects/0190a6e5-7b1c-7cc3-9b2e-1234567890ab/");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->operation_id, "projects_get");
  EXPECT_EQ(m.path_ids, std::vector<std::string>{"0190a6e5-7b1c-7cc3-9b2e-1234567890ab"});
  m = match_route("DELETE", "/api/v1/teams/t/members/m/");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->operation_id, "team_members_delete");
  EXPECT_EQ(m.path_ids, (std::vector<std::string>{"t", "m"}));
}

TEST(GatewayRoutes, TrailingSlashIsOptional) {
  EXPECT_TRUE(match_route("GET", "/api/v1/projects").route);
  EXPECT_TRUE(match_route("POST", "/api/v1/licenses/acquire/").route);
  EXPECT_TRUE(match_route("POST", "/api/v1/licenses/acquire").route);
  EXPECT_TRUE(match_route("GET", "/health").route);
}

TEST(GatewayRoutes, UnknownPathsAndWrongMethods) {
  auto m = match_route("GET", "/api/v1/nothing/");
  EXPECT_FALSE(m.route);
  EXPECT_FALSE(m.path_known);
  EXPECT_FALSE(match_route("GET", "/api//v1/projects/").path_known);
  EXPECT_FALSE(match_route("GET", "").path_known);
  EXPECT_FALSE(match_route("GET", "api/v1/projects/").path_known);
  m = match_route("PUT", "/api/v1/projects/");
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "POST"}));
  m = match_route("POST", "/api/v1/projects/x/");
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "PATCH", "DELETE"}));
}

TEST(GatewayRoutes, EveryRouteCallsOneFunction) {
  std::set<std::string> ops;
  for (const auto& r : routes()) {
    EXPECT_TRUE(ops.insert(r.operation_id).second) << r.operation_id;
    if (r.result == ResultKind::Schema) continue;
    EXPECT_EQ(r.sql.rfind("SELECT ", 0), 0u) << r.operation_id;
    EXPECT_EQ(r.sql.find(';'), std::string::npos) << r.operation_id;
    // $1..$n are exactly the declared arguments.
    for (size_t i = 1; i <= r.args.size(); ++i)
      EXPECT_NE(r.sql.find("$" + std::to_string(i)), std::string::npos) << r.operation_id;
    EXPECT_EQ(r.sql.find("$" + std::to_string(r.args.size() + 1)), std::string::npos)
        << r.operation_id;
  }
  EXPECT_EQ(ops.size(), routes().size());
}

TEST(GatewayRoutes, PublicRoutes) {
  std::set<std::string> pub;
  for (const auto& r : routes())
    if (r.auth == Auth::None) pub.insert(r.operation_id);
  EXPECT_EQ(pub, (std::set<std::string>{"health", "schema", "licenses_public_keys"}));
}

TEST(GatewayOpenApi, DocumentsEveryRoute) {
  json doc = openapi_document("http://127.0.0.1:8080");
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["servers"][0]["url"], "http://127.0.0.1:8080");
  EXPECT_EQ(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
  for (const auto& r : routes()) {
    std::string m = r.method;
    for (auto& c : m) c = static_cast<char>(std::tolower(c));
    ASSERT_TRUE(doc["paths"].contains(r.path)) << r.path;
    ASSERT_TRUE(doc["paths"][r.path].contains(m)) << r.path << " " << m;
    const json& op = doc["paths"][r.path][m];
    EXPECT_EQ(op["operationId"], r.operation_id);
    EXPECT_TRUE(op["responses"].contains(std::to_string(r.success_status))) << r.operation_id;
    if (r.auth == Auth::None)
      EXPECT_TRUE(op["security"].empty()) << r.operation_id;
    else
      EXPECT_TRUE(op["security"][0].contains("bearerAuth")) << r.operation_id;
    if (r.path.find("{id}") != std::string::npos) {
      bool found = false;
      for (const auto& p : op["parameters"])
        found = found || (p["name"] == "id" && p["in"] == "path");
      EXPECT_TRUE(found) << r.operation_id;
    }
    if (r.result == ResultKind::List) {
      std::set<std::string> names;
      for (const auto& p : op["parameters"]) names.insert(p["name"].get<std::string>());
      for (const auto& f : r.list.filters) EXPECT_TRUE(names.count(f)) << r.operation_id << f;
      EXPECT_TRUE(names.count("page") && names.count("page_size") && names.count("cursor"));
    }
    if (!r.request_schema.empty()) {
      EXPECT_TRUE(op.contains("requestBody")) << r.operation_id;
    }
  }
}

TEST(GatewayOpenApi, EveryReferenceResolves) {
  json doc = openapi_document("");
  EXPECT_FALSE(doc.contains("servers"));
  std::function<void(const json&)> walk = [&](const json& j) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "$ref") {
          std::string ref = it->get<std::string>();
          ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u) << ref;
          EXPECT_TRUE(doc["components"]["schemas"].contains(ref.substr(21))) << ref;
        } else {
          walk(*it);
        }
      }
    } else if (j.is_array()) {
      for (const auto& e : j) walk(e);
    }
  };
  walk(doc["paths"]);
}

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
