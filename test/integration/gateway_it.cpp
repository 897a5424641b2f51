// Integration tests of coditect-gateway over real HTTP, against a gateway and a database that
// scripts/test.sh starts (see there). Fixtures are made as superuser through libpq; tokens are
// minted here. Without the CODITECT_IT_* variables every test is skipped.
//
//   coditect_gateway_it --write-keys DIR   writes rsa.key, ec.key (private) and jwks.json
//                                          (public, kids rsa-it and ec-it) for the gateway
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <csignal>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "../support/test_keys.hpp"
#include "http_client.hpp"
#include "it_support.hpp"
#include "jwt_auth.hpp"

using coditect::it::HttpResult;
using nlohmann::json;

namespace {

using coditect::it::env;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------------
// The world: gateway address, keys, superuser connection, fixtures.
// ---------------------------------------------------------------------------------------------
struct World {
  bool ready = false;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string secret, issuer, audience, rsa_key, ec_key;
  long max_request_bytes = 1 << 20;
  PGconn* db = nullptr;
  std::string suffix;

  // Tenant A: users of each role; tenant B: an owner and some rows.
  std::string tenant_a, tenant_b;
  std::map<std::string, std::string> user_a;        // role -> user id
  std::map<std::string, std::string> membership_a;  // role -> membership id
  std::string fb_member_a;                          // firebase uid of A's member
  std::string owner_b, membership_b, project_b, team_b, license_key_b;
  std::string license_key_a, license_key_one_seat;

  // Runs SQL as superuser; returns the first value (or "" for none / NULL).
  std::string sql(const std::string& q, const std::vector<std::string>& params = {}) {
    return coditect::it::sql_value(db, q, params);
  }

  void setup() {
    std::string url = env("CODITECT_IT_URL");
    std::string dburl = env("CODITECT_IT_DATABASE_URL");
    secret = env("CODITECT_IT_JWT_SECRET");
    std::string keys = env("CODITECT_IT_KEYS_DIR");
    if (url.empty() || dburl.empty() || secret.empty() || keys.empty()) return;
    size_t colon = url.rfind(':');
    port = std::atoi(url.c_str() + colon + 1);
    issuer = env("CODITECT_IT_JWT_ISSUER");
    audience = env("CODITECT_IT_JWT_AUDIENCE");
    if (!env("CODITECT_IT_MAX_REQUEST_BYTES").empty())
      max_request_bytes = std::atol(env("CODITECT_IT_MAX_REQUEST_BYTES").c_str());
    rsa_key = read_file(keys + "/rsa.key");
    ec_key = read_file(keys + "/ec.key");
    db = PQconnectdb(dburl.c_str());
    if (PQstatus(db) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(db));
    std::mt19937_64 rng(std::random_device{}());
    suffix = std::to_string(rng() % 1000000000);

    json a =
        json::parse(sql("SELECT coditect.create_tenant('IT A', $1, 'a@it.test', "
                        "'owner-a@it.test')",
                        {"it-a-" + suffix}));
    tenant_a = a["tenant_id"];
    user_a["owner"] = a["user_id"];
    membership_a["owner"] = a["membership_id"];
    for (std::string role : {"admin", "member", "guest"}) {
      user_a[role] = sql(
          "INSERT INTO coditect.users (tenant_id, email, role) VALUES ($1, $2, $3) RETURNING id",
          {tenant_a, role + "-" + suffix + "@it.test", role});
      membership_a[role] =
          sql("INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) "
              "RETURNING id",
              {tenant_a, user_a[role], role});
    }
    fb_member_a = "fb-it-member-" + suffix;
    // Global keys are claimed before the row is written, as the extension's own write paths do
    // (on Citus the shard's trigger only checks the claim).
    sql("SELECT coditect_internal.global_key_claim('users.firebase_uid', $1, $2, $3)",
        {fb_member_a, tenant_a, user_a["member"]});
    sql("UPDATE coditect.users SET firebase_uid = $1 WHERE tenant_id = $2 AND id = $3",
        {fb_member_a, tenant_a, user_a["member"]});
    auto license = [&](const std::string& tenant, const std::string& tier,
                       const std::string& seats) {
      std::string id = sql("SELECT coditect.uuid_generate_v7()");
      std::string key = sql("SELECT coditect.license_key_generate()");
      sql("SELECT coditect_internal.global_key_claim('licenses.key_string', $1, $2, $3)",
          {key, tenant, id});
      sql("INSERT INTO coditect.licenses (tenant_id, id, key_string, tier, expiry_date, "
          "seats_total) VALUES ($1, $2, $3, $4, now() + interval '1 year', $5)",
          {tenant, id, key, tier, seats});
      return key;
    };
    license_key_a = license(tenant_a, "PRO", "1000");
    license_key_one_seat = license(tenant_a, "BASIC", "1");

    json b =
        json::parse(sql("SELECT coditect.create_tenant('IT B', $1, 'b@it.test', "
                        "'owner-b@it.test')",
                        {"it-b-" + suffix}));
    tenant_b = b["tenant_id"];
    owner_b = b["user_id"];
    membership_b = b["membership_id"];
    project_b =
        sql("INSERT INTO coditect.projects (tenant_id, name) VALUES ($1, 'B secret project') "
            "RETURNING id",
            {tenant_b});
    team_b = sql("INSERT INTO coditect.teams (tenant_id, name) VALUES ($1, 'B team') RETURNING id",
                 {tenant_b});
    license_key_b = license(tenant_b, "BASIC", "10");
    ready = true;
  }

  // Which roles hold each permission: a literal copy of the least role per verb declared with
  // each resource (register_resource in sql/20_tenancy.sql, 80_licenses.sql, 10_audit.sql), not
  // read from coditect.role_permissions (the table the code under test reads), so that a grant
  // added or dropped there turns EveryRoleEveryAction red.
  static bool allows(const std::string& role, const std::string& permission) {
    static const std::map<std::string, std::set<std::string>> kGrants = {
        {"tenant.view", {"owner", "admin", "member", "guest"}},
        {"tenant.update", {"owner", "admin"}},
        {"user.view", {"owner", "admin", "member", "guest"}},
        {"user.create", {"owner", "admin"}},
        {"user.update", {"owner", "admin"}},
        {"user.delete", {"owner", "admin"}},
        {"membership.view", {"owner", "admin", "member"}},
        {"membership.update", {"owner", "admin"}},
        {"team.view", {"owner", "admin", "member", "guest"}},
        {"team.create", {"owner", "admin"}},
        {"team.update", {"owner", "admin"}},
        {"team.delete", {"owner", "admin"}},
        {"team_member.view", {"owner", "admin", "member", "guest"}},
        {"team_member.create", {"owner", "admin"}},
        {"team_member.update", {"owner", "admin"}},
        {"team_member.delete", {"owner", "admin"}},
        {"project.view", {"owner", "admin", "member", "guest"}},
        {"project.create", {"owner", "admin", "member"}},
        {"project.update", {"owner", "admin", "member"}},
        {"project.delete", {"owner", "admin"}},
        {"project.restore", {"owner", "admin"}},
        {"audit_log.view", {"owner", "admin"}},
        {"license.view", {"owner", "admin"}},
        {"license.create", {"owner", "admin"}},
        {"license.update", {"owner", "admin"}},
        {"license.use", {"owner", "admin", "member"}},
    };
    auto it = kGrants.find(permission);
    if (it == kGrants.end()) throw std::logic_error("no expected grants for " + permission);
    return it->second.count(role) > 0;
  }

  std::string token(const std::string& sub, const std::string& tenant, const std::string& role,
                    json extra = json::object(), const std::string& alg = "HS256",
                    const std::string& kid = {}) {
    json c = {{"sub", sub}, {"iat", now_s()}, {"exp", now_s() + 600}};
    if (!tenant.empty()) c["tenant_id"] = tenant;
    if (!role.empty()) c["role"] = role;
    if (!issuer.empty()) c["iss"] = issuer;
    if (!audience.empty()) c["aud"] = audience;
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      if (it->is_null())
        c.erase(it.key());
      else
        c[it.key()] = *it;
    }
    const std::string& key = alg == "HS256" ? secret : alg == "RS256" ? rsa_key : ec_key;
    return coditect::gateway::mint_token(alg, key, c, kid);
  }
  std::string token_a(const std::string& role) { return token(user_a[role], tenant_a, role); }

  HttpResult call(const std::string& method, const std::string& target,
                  const std::string& token = {}, const std::string& body = {},
                  coditect::it::Headers headers = {}) {
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return coditect::it::http_request(host, port, method, target, body, headers);
  }

  // Fresh rows of tenant A, made as superuser.
  std::pair<std::string, std::string> fresh_user(const std::string& role = "guest") {
    static int n = 0;
    std::string u =
        sql("INSERT INTO coditect.users (tenant_id, email, role) VALUES ($1, $2, $3) RETURNING id",
            {tenant_a, "fresh" + std::to_string(++n) + "-" + suffix + "@it.test", role});
    std::string m =
        sql("INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) "
            "RETURNING id",
            {tenant_a, u, role});
    return {u, m};
  }
  std::string fresh_team() {
    static int n = 0;
    return sql("INSERT INTO coditect.teams (tenant_id, name) VALUES ($1, $2) RETURNING id",
               {tenant_a, "fresh team " + std::to_string(++n)});
  }
  std::string fresh_project(bool deleted = false) {
    static int n = 0;
    std::string id =
        sql("INSERT INTO coditect.projects (tenant_id, name) VALUES ($1, $2) RETURNING id",
            {tenant_a, "fresh project " + std::to_string(++n)});
    if (deleted)
      sql("DELETE FROM coditect.projects WHERE tenant_id = $1 AND id = $2", {tenant_a, id});
    return id;
  }
};

World& W() {
  static World w;
  return w;
}

class GatewayIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!W().ready)
      GTEST_SKIP() << "set CODITECT_IT_URL, CODITECT_IT_DATABASE_URL, "
                      "CODITECT_IT_JWT_SECRET, CODITECT_IT_KEYS_DIR (scripts/test.sh)";
  }
};

json body_of(const HttpResult& r) { return json::parse(r.body, nullptr, false); }

// A problem+json answer with the given status (and code, when given).
void expect_problem(const HttpResult& r, int status, const std::string& code = {}) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
  json j = body_of(r);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j.value("status", 0), status);
  EXPECT_TRUE(j.contains("type") && j.contains("title") && j.contains("detail") &&
              j.contains("code"))
      << r.body;
  if (!code.empty()) {
    EXPECT_EQ(j.value("code", ""), code) << r.body;
  }
}

// The path and query of a link (links are relative unless CODITECT_PUBLIC_URL is set).
std::string path_of(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  return url.substr(url.find('/', scheme + 3));
}

// ---------------------------------------------------------------------------------------------
// A second gateway of our own, for what needs other settings than the shared one: the same
// binary (next to this one), the same database and keys.
// ---------------------------------------------------------------------------------------------
struct Spawned {
  pid_t pid = -1;
  int port = 0;
  int exit_status = -1;  // once exited: the exit code (or 128 + signal)
  std::string log_path;

  Spawned() = default;
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;
  ~Spawned() { stop(); }

  // Waits up to ms for the process to exit; true when it has.
  bool wait_exit(int ms) {
    for (int waited = 0; pid > 0; waited += 20) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        pid = -1;
        return true;
      }
      if (waited >= ms) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  void stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      if (!wait_exit(10000)) {
        kill(pid, SIGKILL);
        wait_exit(10000);
      }
    }
    if (!log_path.empty()) unlink(log_path.c_str());
    log_path.clear();
  }
  std::string log() const { return read_file(log_path); }
};

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// Starts coditect-gateway with the shared gateway's settings plus `extra` (which win), with
// the soft open-file limit set to soft_nofile when non-zero. wait_ready: until /health/ answers.
void spawn_gateway(Spawned& g, std::map<std::string, std::string> extra, rlim_t soft_nofile = 0,
                   bool wait_ready = true) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(n, 0);
  self[n] = '\0';
  std::string bin = std::string(self);
  bin = bin.substr(0, bin.rfind('/')) + "/coditect-gateway";
  g.port = free_port();
  ASSERT_GT(g.port, 0);
  char log_tmpl[] = "/tmp/coditect-it-gw-XXXXXX";
  int log_fd = mkstemp(log_tmpl);
  ASSERT_GE(log_fd, 0);
  g.log_path = log_tmpl;
  std::string dburl = env("CODITECT_IT_GATEWAY_DATABASE_URL");
  if (dburl.empty()) dburl = env("CODITECT_IT_DATABASE_URL");
  std::map<std::string, std::string> e = {
      {"PATH", env("PATH")},
      {"CODITECT_DATABASE_URL", dburl},
      {"CODITECT_LISTEN", "127.0.0.1:" + std::to_string(g.port)},
      {"CODITECT_JWT_SECRET", W().secret},
      {"CODITECT_JWT_ISSUER", W().issuer},
      {"CODITECT_JWT_AUDIENCE", W().audience},
      {"CODITECT_THREADS", "2"},
      {"CODITECT_POOL_SIZE", "2"}};
  for (auto& [k, v] : extra) e[k] = v;
  std::vector<std::string> env_strings;
  for (auto& [k, v] : e) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& x : env_strings) envp.push_back(x.data());
  envp.push_back(nullptr);
  char* argv[] = {bin.data(), nullptr};
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (soft_nofile) {
      rlimit rl{};
      getrlimit(RLIMIT_NOFILE, &rl);
      rl.rlim_cur = soft_nofile;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    dup2(log_fd, 2);
    dup2(open("/dev/null", O_RDWR), 1);
    execve(bin.c_str(), argv, envp.data());
    _exit(127);
  }
  close(log_fd);
  g.pid = pid;
  if (!wait_ready) return;
  for (int i = 0; i < 200; ++i) {
    if (coditect::it::http_request("127.0.0.1", g.port, "GET", "/health/").status != 0) return;
    ASSERT_FALSE(g.wait_exit(0)) << "the gateway exited: " << g.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "the gateway did not start: " << g.log();
}

// Plain TCP connections to a port that send nothing (bounded, loopback only).
struct IdleConnections {
  std::vector<int> fds;
  ~IdleConnections() { close_all(); }
  bool open(int port, int n) {
    for (int i = 0; i < n; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) return false;
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      fds.push_back(fd);
      if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    }
    return true;
  }
  // Indexes of the connections that have something to read (an answer or the end).
  std::vector<size_t> readable() const {
    std::vector<pollfd> p;
    for (int fd : fds) p.push_back(pollfd{fd, POLLIN, 0});
    poll(p.data(), p.size(), 0);
    std::vector<size_t> out;
    for (size_t i = 0; i < p.size(); ++i)
      if (p[i].revents) out.push_back(i);
    return out;
  }
  void close_all() {
    for (int fd : fds) close(fd);
    fds.clear();
  }
};

// Reads what a connection has (up to 4 KB, or until the peer closes or 5 s pass).
std::string read_some(int fd) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() >= 4096) break;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_F(GatewayIT, HealthAndRequestIds) {
  auto r = W().call("GET", "/health/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["status"], "ok");
  EXPECT_EQ(r.header("x-request-id").size(), 36u) << "a UUID is generated";
  r = W().call("GET", "/health/", "", "", {{"X-Request-Id", "req-42.a_b"}});
  EXPECT_EQ(r.header("x-request-id"), "req-42.a_b") << "a sane id is echoed";
  r = W().call("GET", "/health/", "", "", {{"X-Request-Id", "bad id <script>"}});
  EXPECT_EQ(r.header("x-request-id").size(), 36u) << "an insane one is replaced";
  r = W().call("GET", "/api/v1/nothing/", "", "", {{"X-Request-Id", "err-1"}});
  EXPECT_EQ(r.header("x-request-id"), "err-1") << "errors carry the id too";
}

TEST_F(GatewayIT, OpenApiDocumentsEveryEndpointAndEachIsServed) {
  auto r = W().call("GET", "/api/schema/");
  ASSERT_EQ(r.status, 200);
  json doc = body_of(r);
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["components"]["securitySchemes"]["bearerAuth"]["type"], "http");
  int operations = 0;
  for (auto p = doc["paths"].begin(); p != doc["paths"].end(); ++p) {
    std::string path = p.key();
    // Fill the ids with a valid UUID.
    for (size_t i; (i = path.find('{')) != std::string::npos;)
      path.replace(i, path.find('}') - i + 1, "0190a6e5-7b1c-7cc3-9b2e-1234567890ab");
    for (auto m = p->begin(); m != p->end(); ++m) {
      ++operations;
      std::string method = m.key();
      for (auto& c : method) c = static_cast<char>(std::toupper(c));
      auto res = W().call(method, path);
      // An unknown share's token, an unknown workflow's webhook: the 404 its operation documents.
      json not_found = m->value("responses", json::object()).value("404", json::object());
      // A signed webhook without its signature (Stripe-Signature): refused as unauthenticated.
      bool signed_hook = false;
      for (const auto& prm : m->value("parameters", json::array()))
        signed_hook = signed_hook || (prm.value("in", "") == "header" &&
                                      prm.value("name", "").find("Signature") != std::string::npos);
      if ((*m)["security"].empty() && !not_found.value("description", "").empty())
        expect_problem(res, 404, "CD404");
      else if ((*m)["security"].empty() && signed_hook)
        expect_problem(res, 401, "CD401");
      else if ((*m)["security"].empty())  // its documented success (200, or 201 for a create)
        EXPECT_EQ(res.status, m->value("responses", json::object()).contains("201") ? 201 : 200)
            << method << " " << path;
      else
        expect_problem(res, 401, "CD401");
    }
  }
  // Every operation of the catalog, and the three the gateway keeps in code.
  EXPECT_EQ(
      operations,
      std::stoi(W().sql("SELECT jsonb_array_length(coditect.api_catalog() -> 'operations')")) + 3);
}

TEST_F(GatewayIT, BadTokensAre401) {
  auto& w = W();
  std::string owner = w.user_a["owner"];
  auto get = [&](const std::string& auth) {
    coditect::it::Headers h;
    if (!auth.empty()) h.emplace_back("Authorization", auth);
    return coditect::it::http_request(w.host, w.port, "GET", "/api/v1/tenant/", "", h);
  };
  auto none = get("");
  expect_problem(none, 401, "CD401");
  EXPECT_EQ(none.header("www-authenticate"), "Bearer realm=\"coditect\"");

  std::string rsa_pub =
      coditect::gateway::parse_public_keys(read_file(env("CODITECT_IT_KEYS_DIR") + "/jwks.json"))[0]
          .material;
  auto b64 = [](const json& j) { return coditect::gateway::base64url_encode(j.dump()); };
  json good_claims = {{"sub", owner},         {"tenant_id", w.tenant_a}, {"role", "owner"},
                      {"exp", now_s() + 600}, {"iss", w.issuer},         {"aud", w.audience}};
  std::vector<std::pair<std::string, std::string>> corpus = {
      {"garbage", "Bearer garbage"},
      {"basic", "Basic dXNlcjpwYXNz"},
      {"empty bearer", "Bearer "},
      {"expired", "Bearer " + w.token(owner, w.tenant_a, "owner", {{"exp", now_s() - 3600}})},
      {"not yet valid", "Bearer " + w.token(owner, w.tenant_a, "owner", {{"nbf", now_s() + 3600}})},
      {"issued in the future",
       "Bearer " + w.token(owner, w.tenant_a, "owner", {{"iat", now_s() + 3600}})},
      {"wrong signature",
       "Bearer " + coditect::gateway::mint_token("HS256", "not-the-secret", good_claims)},
      {"wrong audience",
       "Bearer " + w.token(owner, w.tenant_a, "owner", {{"aud", "someone-else"}})},
      {"no audience", "Bearer " + w.token(owner, w.tenant_a, "owner", {{"aud", nullptr}})},
      {"wrong issuer",
       "Bearer " + w.token(owner, w.tenant_a, "owner", {{"iss", "https://evil.test"}})},
      {"alg none",
       "Bearer " + b64({{"alg", "none"}, {"typ", "JWT"}}) + "." + b64(good_claims) + "."},
      {"alg none signed", "Bearer " + b64({{"alg", "none"}}) + "." + b64(good_claims) + ".c2ln"},
      {"HS256 with RSA public key, kid",
       "Bearer " + coditect::gateway::mint_token("HS256", rsa_pub, good_claims, "rsa-it")},
      {"HS256 with RSA public key",
       "Bearer " + coditect::gateway::mint_token("HS256", rsa_pub, good_claims)},
      {"RS256 unknown kid", "Bearer " + w.token(owner, w.tenant_a, "owner", {}, "RS256", "who")},
      {"RS256 under the EC kid",
       "Bearer " + w.token(owner, w.tenant_a, "owner", {}, "RS256", "ec-it")},
      {"no tenant", "Bearer " + w.token(owner, "", "owner")},
      {"tenant not a uuid", "Bearer " + w.token(owner, "acme", "owner")},
      {"no role", "Bearer " + w.token(owner, w.tenant_a, "")},
      {"unregistered firebase uid", "Bearer " + w.token("fb-nobody-" + w.suffix, "", "")},
      {"no exp", "Bearer " + w.token(owner, w.tenant_a, "owner", {{"exp", nullptr}})},
  };
  for (const auto& [name, auth] : corpus) {
    auto r = get(auth);
    SCOPED_TRACE(name);
    expect_problem(r, 401, "CD401");
    EXPECT_EQ(r.header("www-authenticate").rfind("Bearer realm=\"coditect\"", 0), 0u);
    EXPECT_EQ(r.body.find("IT A"), std::string::npos);
  }
}

TEST_F(GatewayIT, TokensOfEveryKindAreAccepted) {
  auto& w = W();
  std::string owner = w.user_a["owner"];
  for (auto [alg, kid] : std::vector<std::pair<std::string, std::string>>{
           {"HS256", ""}, {"RS256", "rsa-it"}, {"ES256", "ec-it"}}) {
    auto r = w.call("GET", "/api/v1/tenant/", w.token(owner, w.tenant_a, "owner", {}, alg, kid));
    EXPECT_EQ(r.status, 200) << alg << " " << r.body;
    EXPECT_EQ(body_of(r).value("id", ""), w.tenant_a);
  }
  // A role below the membership's is fine; above it is refused by the database.
  EXPECT_EQ(w.call("GET", "/api/v1/tenant/", w.token(owner, w.tenant_a, "guest")).status, 200);
  expect_problem(w.call("GET", "/api/v1/tenant/", w.token(w.user_a["member"], w.tenant_a, "owner")),
                 403, "CD403");
  // A's user claiming tenant B: not a member there.
  expect_problem(w.call("GET", "/api/v1/tenant/", w.token(owner, w.tenant_b, "owner")), 403,
                 "CD403");
  // An unknown role name is bad input, decided by the database.
  expect_problem(w.call("GET", "/api/v1/tenant/", w.token(owner, w.tenant_a, "root")), 400,
                 "CD400");
}

// Every action as every role: allowed or 403 exactly as the expected grants (World::allows)
// say.
TEST_F(GatewayIT, EveryRoleEveryAction) {
  auto& w = W();
  int n = 0;
  for (std::string role : {"owner", "admin", "member", "guest"}) {
    SCOPED_TRACE(role);
    std::string t = w.token_a(role);
    auto check = [&](const std::string& perm, const HttpResult& r, int ok) {
      SCOPED_TRACE(perm);
      if (w.allows(role, perm))
        EXPECT_EQ(r.status, ok) << r.body;
      else
        expect_problem(r, 403, "CD403");
    };
    std::string uniq = role + std::to_string(++n);
    check("tenant.view", w.call("GET", "/api/v1/tenant/", t), 200);
    check("tenant.update", w.call("PATCH", "/api/v1/tenant/", t, R"({"industry": "Space"})"), 200);
    check("user.view", w.call("GET", "/api/v1/users/", t), 200);
    check("user.view", w.call("GET", "/api/v1/users/" + w.user_a["guest"] + "/", t), 200);
    check(
        "user.create",
        w.call(
            "POST", "/api/v1/users/", t,
            json{{"email", "inv-" + uniq + "-" + w.suffix + "@it.test"}, {"role", "guest"}}.dump()),
        201);
    auto [fu, fm] = w.fresh_user();
    check("user.update",
          w.call("PATCH", "/api/v1/users/" + fu + "/", t, R"({"first_name": "Zed"})"), 200);
    check("user.delete", w.call("DELETE", "/api/v1/users/" + fu + "/", t), 204);
    auto [gu, gm] = w.fresh_user();
    check("membership.view", w.call("GET", "/api/v1/memberships/", t), 200);
    check("membership.view", w.call("GET", "/api/v1/memberships/" + gm + "/", t), 200);
    check("membership.update",
          w.call("PATCH", "/api/v1/memberships/" + gm + "/", t, R"({"role": "member"})"), 200);
    std::string team = w.fresh_team();
    check("team.view", w.call("GET", "/api/v1/teams/", t), 200);
    check("team.view", w.call("GET", "/api/v1/teams/" + team + "/", t), 200);
    check("team.create", w.call("POST", "/api/v1/teams/", t, json{{"name", "team " + uniq}}.dump()),
          201);
    check("team.update",
          w.call("PATCH", "/api/v1/teams/" + team + "/", t, R"({"description": "d"})"), 200);
    check("team_member.view", w.call("GET", "/api/v1/teams/" + team + "/members/", t), 200);
    auto add = w.call("POST", "/api/v1/teams/" + team + "/members/", t,
                      json{{"user_id", gu}, {"role", "lead"}}.dump());
    check("team_member.create", add, 201);
    std::string tm = w.sql(
        "INSERT INTO coditect.team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING id",
        {w.tenant_a, team, w.user_a["owner"]});
    check("team_member.delete",
          w.call("DELETE", "/api/v1/teams/" + team + "/members/" + tm + "/", t), 204);
    check("team.delete", w.call("DELETE", "/api/v1/teams/" + team + "/", t), 204);
    std::string p = w.fresh_project();
    check("project.view", w.call("GET", "/api/v1/projects/", t), 200);
    check("project.view", w.call("GET", "/api/v1/projects/" + p + "/", t), 200);
    check("project.create",
          w.call("POST", "/api/v1/projects/", t, json{{"name", "proj " + uniq}}.dump()), 201);
    check("project.update",
          w.call("PATCH", "/api/v1/projects/" + p + "/", t, R"({"description": "x"})"), 200);
    check("project.delete", w.call("DELETE", "/api/v1/projects/" + p + "/", t), 204);
    check("project.restore",
          w.call("POST", "/api/v1/projects/" + w.fresh_project(true) + "/restore/", t), 200);
    check("license.view", w.call("GET", "/api/v1/licenses/", t), 200);
    check(
        "license.create",
        w.call("POST", "/api/v1/licenses/", t,
               json{{"tier", "BASIC"}, {"seats_total", 2}, {"expiry_date", "2099-01-01T00:00:00Z"}}
                   .dump()),
        201);
    auto acq = w.call("POST", "/api/v1/licenses/acquire", t,
                      json{{"key_string", w.license_key_a}, {"hardware_id", "hw-" + uniq}}.dump());
    check("license.use", acq, 200);
    std::string sid = acq.status == 200 ? body_of(acq)["session_id"].get<std::string>()
                                        : "0190a6e5-7b1c-7cc3-9b2e-1234567890ab";
    check("license.use",
          w.call("PUT", "/api/v1/licenses/heartbeat", t, json{{"session_id", sid}}.dump()), 200);
    check("license.use",
          w.call("DELETE", "/api/v1/licenses/release", t, json{{"session_id", sid}}.dump()), 204);
    check("audit_log.view", w.call("GET", "/api/v1/audit-logs/", t), 200);
  }
}

TEST_F(GatewayIT, AnotherTenantsIdsAreNotFound) {
  auto& w = W();
  std::string t = w.token_a("owner");
  std::vector<std::pair<std::string, std::string>> probes = {
      {"GET", "/api/v1/projects/" + w.project_b + "/"},
      {"PATCH", "/api/v1/projects/" + w.project_b + "/"},
      {"DELETE", "/api/v1/projects/" + w.project_b + "/"},
      {"POST", "/api/v1/projects/" + w.project_b + "/restore/"},
      {"GET", "/api/v1/teams/" + w.team_b + "/"},
      {"PATCH", "/api/v1/teams/" + w.team_b + "/"},
      {"DELETE", "/api/v1/teams/" + w.team_b + "/"},
      {"GET", "/api/v1/teams/" + w.team_b + "/members/"},
      {"POST", "/api/v1/teams/" + w.team_b + "/members/"},
      {"GET", "/api/v1/users/" + w.owner_b + "/"},
      {"PATCH", "/api/v1/users/" + w.owner_b + "/"},
      {"DELETE", "/api/v1/users/" + w.owner_b + "/"},
      {"GET", "/api/v1/memberships/" + w.membership_b + "/"},
      {"PATCH", "/api/v1/memberships/" + w.membership_b + "/"},
  };
  for (const auto& [method, path] : probes) {
    SCOPED_TRACE(method + " " + path);
    std::string body;
    if (method == "PATCH")
      body = path.find("memberships") != std::string::npos ? R"({"role": "guest"})"
             : path.find("users") != std::string::npos     ? R"({"first_name": "pwned"})"
                                                           : R"({"name": "pwned"})";
    if (method == "POST" && path.find("members") != std::string::npos)
      body = json{{"user_id", w.user_a["owner"]}}.dump();
    auto r = w.call(method, path, t, body);
    expect_problem(r, 404, "CD404");
    EXPECT_EQ(r.body.find("B secret"), std::string::npos);
  }
  // Lists never show B's rows; B's license key is unknown to A.
  auto list = w.call("GET", "/api/v1/projects/?page_size=200", t);
  EXPECT_EQ(list.body.find("B secret"), std::string::npos);
  expect_problem(w.call("POST", "/api/v1/licenses/acquire", t,
                        json{{"key_string", w.license_key_b}, {"hardware_id", "x"}}.dump()),
                 404, "CD404");
  // And B's rows are untouched.
  EXPECT_EQ(w.sql("SELECT name FROM coditect.projects WHERE id = $1 AND deleted_at IS NULL",
                  {w.project_b}),
            "B secret project");
  EXPECT_EQ(w.sql("SELECT count(*) FROM coditect.users WHERE id = $1", {w.owner_b}), "1");
}

TEST_F(GatewayIT, ProjectLifecycleAndAuditContext) {
  auto& w = W();
  std::string t = w.token_a("admin");
  auto c = w.call("POST", "/api/v1/projects/", t,
                  R"({"name": "Apollo IT", "description": "d", "metadata": {"k": 1}})",
                  {{"User-Agent", "ITAgent/7"}, {"X-Request-Id", "it-req-" + w.suffix}});
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(c.header("content-type"), "application/json");
  std::string id = body_of(c)["id"];
  EXPECT_EQ(body_of(c)["tenant_id"], w.tenant_a);
  EXPECT_EQ(body_of(w.call("GET", "/api/v1/projects/" + id + "/", t))["name"], "Apollo IT");
  EXPECT_EQ(
      body_of(w.call("PATCH", "/api/v1/projects/" + id, t, R"({"name": "Apollo 2"})"))["name"],
      "Apollo 2");
  expect_problem(w.call("POST", "/api/v1/projects/", t, R"({"name": "Apollo 2"})"), 409, "23505");
  auto del = w.call("DELETE", "/api/v1/projects/" + id + "/", t);
  EXPECT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  expect_problem(w.call("GET", "/api/v1/projects/" + id + "/", t), 404, "CD404");
  EXPECT_EQ(body_of(w.call("POST", "/api/v1/projects/" + id + "/restore/", t))["name"], "Apollo 2");
  // The audit row of the create carries the request context the gateway set.
  EXPECT_EQ(c.header("x-request-id"), "it-req-" + w.suffix);
  EXPECT_EQ(
      w.sql("SELECT concat_ws('|', host(ip_address), request_method, request_path, "
            "user_agent, user_id, request_id) "
            "FROM coditect.audit_logs WHERE tenant_id = $1 AND resource_id = $2 AND action = "
            "'project.create'",
            {w.tenant_a, id}),
      "127.0.0.1|POST|/api/v1/projects/|ITAgent/7|" + w.user_a["admin"] + "|it-req-" + w.suffix);
}

// Audit events the gateway writes: a token's login on its first request only, and a refused
// request (its own transaction rolled back) recorded afterwards.
TEST_F(GatewayIT, AuditEventsLoginOncePerTokenAndRefusals) {
  auto& w = W();
  // A token of this test's own (its jti and expiry used by no other test).
  const int64_t iat = now_s(), exp = iat + 900;
  std::string t = w.token(w.user_a["member"], w.tenant_a, "member",
                          {{"jti", "it-login-" + w.suffix}, {"iat", iat}, {"exp", exp}});
  auto logins = [&] {
    return w.sql(
        "SELECT count(*) FROM coditect.audit_logs WHERE tenant_id = $1 AND action = 'user.login' "
        "AND resource_id = $2 AND user_id = $2::uuid AND (metadata->>'expires_at')::timestamptz = "
        "to_timestamp($3::bigint) AND (metadata->>'issued_at')::timestamptz = "
        "to_timestamp($4::bigint)",
        {w.tenant_a, w.user_a["member"], std::to_string(exp), std::to_string(iat)});
  };
  EXPECT_EQ(logins(), "0");
  ASSERT_EQ(w.call("GET", "/api/v1/projects/", t).status, 200);
  EXPECT_EQ(logins(), "1") << "the first request of a new token is its login";
  ASSERT_EQ(w.call("GET", "/api/v1/projects/", t).status, 200);
  ASSERT_EQ(w.call("GET", "/api/v1/tenant/", t).status, 200);
  EXPECT_EQ(logins(), "1") << "later requests of the token are not logins";
  EXPECT_EQ(w.sql("SELECT count(*) FROM coditect_internal.token_logins WHERE token_sha256 = "
                  "sha256(convert_to($1, 'UTF8'))",
                  {t}),
            "1")
      << "the token is remembered by its SHA-256";
  EXPECT_EQ(
      w.sql("SELECT count(*) FROM coditect.audit_logs WHERE strpos(metadata::text, $1) > 0", {t}),
      "0");

  // A guest may not create a project: 403, recorded as request.refused with the request's
  // context.
  std::string rid = "it-refused-" + w.suffix;
  auto refused = w.call("POST", "/api/v1/projects/", w.token_a("guest"),
                        R"({"name": "Refused IT"})", {{"X-Request-Id", rid}});
  expect_problem(refused, 403, "CD403");
  EXPECT_EQ(w.sql("SELECT concat_ws('|', count(*), min(severity), min(user_id::text), "
                  "min(request_method), min(request_path), min(metadata->>'status'), "
                  "min(metadata->>'code')) FROM coditect.audit_logs "
                  "WHERE tenant_id = $1 AND action = 'request.refused' AND request_id = $2",
                  {w.tenant_a, rid}),
            "1|warning|" + w.user_a["guest"] + "|POST|/api/v1/projects/|403|CD403");
  // An answer that is not refused is not recorded.
  EXPECT_EQ(w.sql("SELECT count(*) FROM coditect.audit_logs WHERE action LIKE 'request.%' "
                  "AND request_id = $1",
                  {"it-fine-" + w.suffix}),
            "0");
  ASSERT_EQ(
      w.call("GET", "/api/v1/projects/", t, {}, {{"X-Request-Id", "it-fine-" + w.suffix}}).status,
      200);
  EXPECT_EQ(w.sql("SELECT count(*) FROM coditect.audit_logs WHERE action LIKE 'request.%' "
                  "AND request_id = $1",
                  {"it-fine-" + w.suffix}),
            "0");
}

TEST_F(GatewayIT, UsersMembershipsAndTeams) {
  auto& w = W();
  std::string t = w.token_a("admin");
  expect_problem(w.call("POST", "/api/v1/users/", t,
                        json{{"email", "boss-" + w.suffix + "@it.test"}, {"role", "owner"}}.dump()),
                 403, "CD403");
  auto u = w.call(
      "POST", "/api/v1/users/", t,
      json{{"email", "nia-" + w.suffix + "@it.test"}, {"role", "member"}, {"first_name", "Nia"}}
          .dump());
  ASSERT_EQ(u.status, 201) << u.body;
  std::string uid = body_of(u)["id"];
  EXPECT_FALSE(body_of(u).contains("firebase_uid"));
  auto ms = w.call("GET", "/api/v1/memberships/?user_id=" + uid, t);
  ASSERT_EQ(ms.status, 200) << ms.body;
  ASSERT_EQ(body_of(ms)["count"], 1);
  std::string mid = body_of(ms)["results"][0]["id"];
  EXPECT_EQ(body_of(ms)["results"][0]["role"], "member");
  EXPECT_EQ(body_of(w.call("PATCH", "/api/v1/memberships/" + mid + "/", t,
                           R"({"role": "guest"})"))["role"],
            "guest");
  EXPECT_EQ(
      body_of(w.call("GET", "/api/v1/users/?email=nia-" + w.suffix + "%40it.test", t))["count"], 1);
  expect_problem(w.call("DELETE", "/api/v1/users/" + w.user_a["admin"] + "/", t), 409, "CD409");

  auto team = w.call("POST", "/api/v1/teams/", t, R"({"name": "Core IT", "description": "x"})");
  ASSERT_EQ(team.status, 201);
  std::string tid = body_of(team)["id"];
  auto m = w.call("POST", "/api/v1/teams/" + tid + "/members/", t,
                  json{{"user_id", uid}, {"role", "lead"}}.dump());
  ASSERT_EQ(m.status, 201) << m.body;
  EXPECT_EQ(body_of(m)["team_id"], tid);
  expect_problem(
      w.call("POST", "/api/v1/teams/" + tid + "/members/", t, json{{"user_id", uid}}.dump()), 409);
  expect_problem(w.call("POST", "/api/v1/teams/" + tid + "/members/", t,
                        json{{"user_id", "0190a6e5-7b1c-7cc3-9b2e-1234567890ab"}}.dump()),
                 409, "23503");
  auto list = w.call("GET", "/api/v1/teams/" + tid + "/members/?role=lead", t);
  EXPECT_EQ(body_of(list)["count"], 1);
  EXPECT_EQ(
      w.call("DELETE",
             "/api/v1/teams/" + tid + "/members/" + body_of(m)["id"].get<std::string>() + "/", t)
          .status,
      204);
  expect_problem(
      w.call("DELETE",
             "/api/v1/teams/" + tid + "/members/" + body_of(m)["id"].get<std::string>() + "/", t),
      404);
  EXPECT_EQ(w.call("DELETE", "/api/v1/teams/" + tid + "/", t).status, 204);
  EXPECT_EQ(w.call("PATCH", "/api/v1/tenant/", t, R"({"company_size": "small"})").status, 200);
  // Closed vocabularies are enum types: a value outside one is malformed input.
  expect_problem(w.call("PATCH", "/api/v1/tenant/", t, R"({"company_size": "galactic"})"), 400,
                 "22P02");
  expect_problem(w.call("PATCH", "/api/v1/tenant/", t, R"({"seats_total": 999})"), 400, "CD400");
}

// Project management over HTTP: a task of a keyed project, its transitions (a refused one is
// 422 naming the allowed targets), the move to a sprint, the project's task list and
// tasks_count, the activity feed, and a board with its view.
TEST_F(GatewayIT, TasksTransitionsSprintsBoardsAndActivity) {
  auto& w = W();
  std::string admin = w.token_a("admin"), member = w.token_a("member"), guest = w.token_a("guest");
  auto p = w.call("POST", "/api/v1/projects/", member,
                  json{{"name", "PM IT " + w.suffix}, {"key", "PMIT"}}.dump());
  ASSERT_EQ(p.status, 201) << p.body;
  std::string pid = body_of(p)["id"];
  EXPECT_EQ(body_of(p)["tasks_count"], 0);
  auto t = w.call("POST", "/api/v1/tasks/", member,
                  json{{"project_id", pid}, {"title", "Ship it"}, {"priority", "high"}}.dump());
  ASSERT_EQ(t.status, 201) << t.body;
  std::string tid = body_of(t)["id"];
  EXPECT_EQ(body_of(t)["key"], "PMIT-1");
  EXPECT_EQ(body_of(t)["status"], "backlog");

  // Transitions.
  auto refused =
      w.call("POST", "/api/v1/tasks/" + tid + "/transition/", member, R"({"status": "done"})");
  expect_problem(refused, 422, "CD422");
  EXPECT_NE(body_of(refused).value("detail", "").find("todo"), std::string::npos) << refused.body;
  expect_problem(
      w.call("POST", "/api/v1/tasks/" + tid + "/transition/", member, R"({"status": "finished"})"),
      400);
  expect_problem(
      w.call("POST", "/api/v1/tasks/" + tid + "/transition/", guest, R"({"status": "todo"})"), 403,
      "CD403");
  auto moved =
      w.call("POST", "/api/v1/tasks/" + tid + "/transition/", member, R"({"status": "todo"})");
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(body_of(moved)["status"], "todo");

  // Into a sprint of its project, and out again; a guest cannot.
  auto s = w.call("POST", "/api/v1/sprints/", admin,
                  json{{"project_id", pid},
                       {"name", "S1"},
                       {"start_date", "2026-12-01"},
                       {"end_date", "2026-12-14"}}
                      .dump());
  ASSERT_EQ(s.status, 201) << s.body;
  std::string sid = body_of(s)["id"];
  auto in =
      w.call("POST", "/api/v1/tasks/" + tid + "/sprint/", member, json{{"sprint_id", sid}}.dump());
  ASSERT_EQ(in.status, 200) << in.body;
  EXPECT_EQ(body_of(in)["sprint_id"], sid);
  expect_problem(
      w.call("POST", "/api/v1/tasks/" + tid + "/sprint/", guest, json{{"sprint_id", sid}}.dump()),
      403, "CD403");
  expect_problem(w.call("POST", "/api/v1/tasks/" + tid + "/sprint/", member,
                        json{{"sprint_id", "0190a6e5-7b1c-7cc3-9b2e-1234567890ab"}}.dump()),
                 409, "23503");

  // The project's tasks under it, and its count.
  auto under = w.call("GET", "/api/v1/projects/" + pid + "/tasks/?status=todo", guest);
  ASSERT_EQ(under.status, 200) << under.body;
  EXPECT_EQ(body_of(under)["count"], 1);
  EXPECT_EQ(body_of(under)["results"][0]["key"], "PMIT-1");
  expect_problem(w.call("GET", "/api/v1/projects/" + w.project_b + "/tasks/", guest), 404, "CD404");
  EXPECT_EQ(body_of(w.call("GET", "/api/v1/projects/" + pid + "/", guest))["tasks_count"], 1);
  EXPECT_EQ(body_of(w.call("GET", "/api/v1/tasks/?tags__contains=none", guest))["count"], 0);

  // The activity feed: created, the status change, the sprint, newest first.
  auto feed = w.call("GET", "/api/v1/tasks/" + tid + "/activity/", guest);
  ASSERT_EQ(feed.status, 200) << feed.body;
  std::vector<std::string> actions;
  const json entries = body_of(feed)["results"];
  for (const auto& e : entries)
    actions.push_back(
        e["action"].get<std::string>() + ":" +
        (e["field_changed"].is_string() ? e["field_changed"].get<std::string>() : ""));
  EXPECT_EQ(actions,
            (std::vector<std::string>{"updated:sprint_id", "status_changed:status", "created:"}));
  EXPECT_EQ(
      body_of(w.call("GET", "/api/v1/tasks/" + tid + "/activity/?action=created", guest))["results"]
          .size(),
      1u);

  // A board and its view.
  expect_problem(
      w.call("POST", "/api/v1/boards/", member, json{{"project_id", pid}, {"name", "Mine"}}.dump()),
      403, "CD403");
  auto bad = w.call("POST", "/api/v1/boards/", admin,
                    json{{"project_id", pid},
                         {"name", "Bad"},
                         {"columns", json::array({{{"id", "a"}, {"name", "A"}, {"position", 0}}})}}
                        .dump());
  expect_problem(bad, 400, "CD400");
  EXPECT_NE(body_of(bad).value("detail", "").find("status_mapping"), std::string::npos) << bad.body;
  auto b =
      w.call("POST", "/api/v1/boards/", admin, json{{"project_id", pid}, {"name", "Board"}}.dump());
  ASSERT_EQ(b.status, 201) << b.body;
  std::string bid = body_of(b)["id"];
  EXPECT_EQ(body_of(w.call("GET", "/api/v1/projects/" + pid + "/boards/", guest))["count"], 1);
  auto view = w.call("GET", "/api/v1/boards/" + bid + "/view/?limit=10", guest);
  ASSERT_EQ(view.status, 200) << view.body;
  json v = body_of(view);
  EXPECT_EQ(v["board"]["id"], bid);
  ASSERT_EQ(v["columns"].size(), 5u);
  EXPECT_EQ(v["columns"][1]["id"], "todo");
  EXPECT_EQ(v["columns"][1]["count"], 1);
  EXPECT_EQ(v["columns"][1]["tasks"][0]["key"], "PMIT-1");
  EXPECT_EQ(v["columns"][0]["tasks"].size(), 0u);
  expect_problem(w.call("GET", "/api/v1/boards/" + bid + "/view/?limit=0", guest), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/boards/0190a6e5-7b1c-7cc3-9b2e-1234567890ab/view/", guest),
                 404, "CD404");
}

TEST_F(GatewayIT, PagesCursorsAndFilters) {
  auto& w = W();
  // A tenant of its own with five projects.
  json c =
      json::parse(w.sql("SELECT coditect.create_tenant('IT P', $1, 'p@it.test', 'owner-p@it.test')",
                        {"it-p-" + w.suffix}));
  std::string tenant = c["tenant_id"], user = c["user_id"];
  std::string t = w.token(user, tenant, "owner");
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(w.call("POST", "/api/v1/projects/", t, json{{"name", "P" + std::to_string(i)}}.dump())
                  .status,
              201);
  auto first = w.call("GET", "/api/v1/projects/?page_size=2", t);
  ASSERT_EQ(first.status, 200) << first.body;
  json j = body_of(first);
  EXPECT_EQ(j["count"], 5);
  EXPECT_TRUE(j["previous"].is_null());
  EXPECT_EQ(j["next"], "/api/v1/projects/?page=2&page_size=2") << "relative: no public URL set";
  std::vector<std::string> names;
  for (;;) {
    for (const auto& p : j["results"]) names.push_back(p["name"]);
    if (j["next"].is_null()) break;
    auto r = w.call("GET", path_of(j["next"]), t);
    ASSERT_EQ(r.status, 200);
    j = body_of(r);
    EXPECT_FALSE(j["previous"].is_null());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"P5", "P4", "P3", "P2", "P1"}));
  EXPECT_EQ(body_of(w.call("GET", "/api/v1/projects/?name=P2", t))["count"], 1);
  EXPECT_EQ(body_of(w.call("GET", "/api/v1/projects/?created_at__gte=2999-01-01", t))["count"], 0);
  expect_problem(w.call("GET", "/api/v1/projects/?owner=x", t), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/projects/?page_size=500", t), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/projects/?page=0", t), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/projects/?cursor=garbage!", t), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/projects/?created_at__gte=yesterday-ish", t), 400);
  expect_problem(w.call("GET", "/api/v1/projects/?page=1&cursor=abc", t), 400, "CD400");

  // The audit trail: keyset pages by default, walked by next links.
  std::string total =
      w.sql("SELECT count(*) FROM coditect.audit_logs WHERE tenant_id = $1", {tenant});
  auto a = w.call("GET", "/api/v1/audit-logs/?page_size=3", t);
  ASSERT_EQ(a.status, 200) << a.body;
  j = body_of(a);
  EXPECT_TRUE(j["count"].is_null());
  std::set<std::string> seen;
  for (int guard = 0; guard < 100; ++guard) {
    for (const auto& row : j["results"])
      EXPECT_TRUE(seen.insert(row["id"].get<std::string>()).second);
    if (j["next"].is_null()) break;
    EXPECT_NE(j["next"].get<std::string>().find("cursor="), std::string::npos);
    j = body_of(w.call("GET", path_of(j["next"]), t));
  }
  EXPECT_EQ(std::to_string(seen.size()), total);
  auto pages =
      body_of(w.call("GET", "/api/v1/audit-logs/?page=1&page_size=2&action=project.create", t));
  EXPECT_EQ(pages["count"], 5);
  EXPECT_NE(pages["next"].get<std::string>().find("action=project.create&page=2&page_size=2"),
            std::string::npos);
  expect_problem(w.call("GET", "/api/v1/audit-logs/?user_id=not-a-uuid", t), 400, "CD400");
}

TEST_F(GatewayIT, LicenseSeats) {
  auto& w = W();
  std::string admin = w.token_a("admin"), member = w.token_a("member");
  auto issued = w.call(
      "POST", "/api/v1/licenses/", admin,
      R"({"tier": "ENTERPRISE", "features": ["sso"], "seats_total": 2, "expiry_date": "2099-01-01T00:00:00Z"})");
  ASSERT_EQ(issued.status, 201) << issued.body;
  std::string key = body_of(issued)["key_string"];
  auto acquire = [&](const std::string& k, const std::string& hw) {
    return w.call("POST", "/api/v1/licenses/acquire", member,
                  json{{"key_string", k}, {"hardware_id", hw}}.dump(),
                  {{"User-Agent", "CoditectDesktop/2.1"}});
  };
  auto s1 = acquire(key, "machine-1");
  ASSERT_EQ(s1.status, 200) << s1.body;
  json j1 = body_of(s1);
  EXPECT_EQ(j1["seats_used"], 1);
  EXPECT_EQ(j1["status"], "active");
  EXPECT_FALSE(j1["token"].get<std::string>().empty());
  std::string sid = j1["session_id"];
  EXPECT_EQ(w.sql("SELECT host(ip_address) || ' ' || user_agent FROM coditect.license_sessions "
                  "WHERE id = $1",
                  {sid}),
            "127.0.0.1 CoditectDesktop/2.1");
  EXPECT_EQ(body_of(acquire(key, "machine-1"))["session_id"], sid) << "same machine, same session";
  auto s2 = acquire(key, "machine-2");
  ASSERT_EQ(s2.status, 200);
  expect_problem(acquire(key, "machine-3"), 409, "CD409");
  EXPECT_NE(body_of(acquire(key, "machine-3"))["detail"].get<std::string>().find("no free seat"),
            std::string::npos);
  auto hb = w.call("PUT", "/api/v1/licenses/heartbeat", member, json{{"session_id", sid}}.dump());
  EXPECT_EQ(hb.status, 200) << hb.body;
  EXPECT_EQ(
      w.call("DELETE", "/api/v1/licenses/release", member, json{{"session_id", sid}}.dump()).status,
      204);
  EXPECT_EQ(w.call("DELETE", "/api/v1/licenses/release?session_id=" + sid, member).status, 204)
      << "twice is harmless";
  std::string sid2 = body_of(s2)["session_id"];
  EXPECT_EQ(w.call("DELETE", "/api/v1/licenses/release?session_id=" + sid2, member).status, 204);
  expect_problem(
      w.call("PUT", "/api/v1/licenses/heartbeat", member, json{{"session_id", sid}}.dump()), 410,
      "CD410");
  expect_problem(acquire("CODITECT-AAAA-AAAA-AAAA", "m"), 400, "CD400");
  expect_problem(acquire("not a key", "m"), 400, "CD400");
  expect_problem(acquire(key, "   "), 400, "CD400");
  expect_problem(
      w.call("PUT", "/api/v1/licenses/heartbeat", member, json{{"session_id", "nope"}}.dump()),
      400);
  expect_problem(w.call("PUT", "/api/v1/licenses/heartbeat", member,
                        json{{"session_id", "0190a6e5-7b1c-7cc3-9b2e-1234567890ab"}}.dump()),
                 404, "CD404");
  expect_problem(w.call("DELETE", "/api/v1/licenses/release", member), 400);
  expect_problem(w.call("POST", "/api/v1/licenses/acquire", member,
                        R"({"key_string": 5, "hardware_id": "x"})"),
                 400);
  expect_problem(w.call("POST", "/api/v1/licenses/acquire", member,
                        R"({"key_string": "x", "hardware_id": "x", "seats": 9})"),
                 400);
  // One seat, taken.
  ASSERT_EQ(acquire(w.license_key_one_seat, "solo-1").status, 200);
  expect_problem(acquire(w.license_key_one_seat, "solo-2"), 409, "CD409");
  // The public keys need no token.
  auto keys = w.call("GET", "/api/v1/licenses/public-keys/");
  ASSERT_EQ(keys.status, 200);
  ASSERT_TRUE(body_of(keys).is_array());
  ASSERT_GE(body_of(keys).size(), 1u);
  EXPECT_TRUE(body_of(keys)[0].contains("public_key_pem"));
  // Listing with filters.
  EXPECT_GE(body_of(w.call("GET", "/api/v1/licenses/?tier=ENTERPRISE&expiry_date__gte=2098-01-01",
                           admin))["count"],
            1);
}

TEST_F(GatewayIT, RegistrationAndFirebaseIdentities) {
  auto& w = W();
  std::string uid = "fb-it-new-" + w.suffix;
  std::string t = w.token(uid, "", "", {{"email", "founder-" + w.suffix + "@it.test"}});
  expect_problem(w.call("GET", "/api/v1/projects/", t), 401, "CD401");
  expect_problem(
      w.call("POST", "/api/v1/auth/register", "", R"({"tenant_name": "X", "tenant_slug": "x"})"),
      401);
  expect_problem(w.call("POST", "/api/v1/auth/register", t,
                        R"({"tenant_name": "X", "tenant_slug": "x", "plan": "max"})"),
                 400);
  auto reg = w.call("POST", "/api/v1/auth/register", t,
                    json{{"tenant_name", "New Co"}, {"tenant_slug", "it-new-" + w.suffix}}.dump());
  ASSERT_EQ(reg.status, 201) << reg.body;
  std::string tenant = body_of(reg)["tenant_id"];
  expect_problem(
      w.call("POST", "/api/v1/auth/register", t,
             json{{"tenant_name", "Again"}, {"tenant_slug", "it-again-" + w.suffix}}.dump()),
      409, "CD409");
  expect_problem(
      w.call("POST", "/api/v1/auth/register", w.token_a("owner"),
             json{{"tenant_name", "Mine"}, {"tenant_slug", "it-mine-" + w.suffix}}.dump()),
      409, "CD409");
  // The same token now resolves to the new owner: tenant and role from the database.
  auto me = w.call("GET", "/api/v1/tenant/", t);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(body_of(me)["id"], tenant);
  EXPECT_EQ(body_of(me)["name"], "New Co");
  EXPECT_EQ(w.call("POST", "/api/v1/projects/", t, R"({"name": "First"})").status, 201);
  // A's member by Firebase uid: member rights only.
  std::string m = w.token(w.fb_member_a, "", "");
  EXPECT_EQ(w.call("GET", "/api/v1/projects/", m).status, 200);
  expect_problem(w.call("GET", "/api/v1/audit-logs/", m), 403, "CD403");
  // Claims may narrow, never widen, what the membership gives.
  expect_problem(w.call("GET", "/api/v1/audit-logs/", w.token(w.fb_member_a, "", "owner")), 403,
                 "CD403");
  expect_problem(w.call("GET", "/api/v1/projects/", w.token(w.fb_member_a, w.tenant_b, "")), 403,
                 "CD403");
  // A slug taken is a conflict, an invalid one bad input.
  std::string t2 =
      w.token("fb-it-other-" + w.suffix, "", "", {{"email", "o-" + w.suffix + "@it.test"}});
  expect_problem(w.call("POST", "/api/v1/auth/register", t2,
                        json{{"tenant_name", "Dup"}, {"tenant_slug", "it-new-" + w.suffix}}.dump()),
                 409, "23505");
  auto bad = w.call("POST", "/api/v1/auth/register", t2,
                    R"({"tenant_name": "Bad", "tenant_slug": "NOT A SLUG"})");
  EXPECT_GE(bad.status, 400);
  EXPECT_LT(bad.status, 500) << bad.body;
}

TEST_F(GatewayIT, BadInputsAreClear4xxNever500) {
  auto& w = W();
  std::string t = w.token_a("owner");
  struct Case {
    std::string name, method, path, body;
    int status;
  };
  std::string deep = std::string(5000, '[') + std::string(5000, ']');
  std::vector<Case> cases = {
      {"malformed JSON", "POST", "/api/v1/projects/", R"({"name": )", 400},
      {"trailing garbage", "POST", "/api/v1/projects/", R"({"name": "x"} x)", 400},
      {"array body", "POST", "/api/v1/projects/", "[1, 2]", 400},
      {"string body", "POST", "/api/v1/projects/", R"("name")", 400},
      {"null body", "POST", "/api/v1/projects/", "null", 400},
      {"empty body", "POST", "/api/v1/projects/", "", 400},
      {"unknown field", "POST", "/api/v1/projects/", R"({"name": "x", "colour": "red"})", 400},
      {"read-only field", "POST", "/api/v1/projects/",
       R"({"name": "x", "tenant_id": "0190a6e5-7b1c-7cc3-9b2e-1234567890ab"})", 400},
      {"read-only id", "PATCH", "/api/v1/tenant/",
       R"({"id": "0190a6e5-7b1c-7cc3-9b2e-1234567890ab"})", 400},
      {"missing name", "POST", "/api/v1/projects/", R"({"description": "no name"})", 400},
      {"blank name", "POST", "/api/v1/projects/", R"({"name": "  "})", 422},
      {"name too long", "POST", "/api/v1/projects/", json{{"name", std::string(300, 'x')}}.dump(),
       400},
      {"metadata not an object", "POST", "/api/v1/projects/",
       R"({"name": "m", "metadata": "flat"})", 422},
      {"NUL in a string", "POST", "/api/v1/projects/", R"({"name": "a\u0000b"})", 400},
      {"invalid UTF-8", "POST", "/api/v1/projects/", "{\"name\": \"\xff\xfe\"}", 400},
      {"deep nesting", "POST", "/api/v1/projects/", deep, 400},
      {"number overflow", "POST", "/api/v1/projects/", R"({"name": "n", "metadata": {"x": 1e400}})",
       400},
      {"lone surrogate", "POST", "/api/v1/projects/", R"({"name": "\ud800"})", 400},
      {"deep in a field", "POST", "/api/v1/projects/",
       "{\"name\": \"d\", \"metadata\": {\"a\": " + deep + "}}", 400},
      {"wrong type number", "POST", "/api/v1/licenses/",
       R"({"seats_total": "many", "expiry_date": "2099-01-01"})", 400},
      {"bad date", "POST", "/api/v1/licenses/", R"({"expiry_date": "someday"})", 400},
      {"number out of range", "POST", "/api/v1/licenses/",
       R"({"expiry_date": "2099-01-01", "seats_total": 99999999999})", 400},
      {"bad enum", "PATCH", "/api/v1/users/" + W().user_a["guest"] + "/", R"({"role": "emperor"})",
       400},
      {"bad email", "POST", "/api/v1/users/", R"({"email": "not-an-email"})", 422},
      {"bad uuid in path", "GET", "/api/v1/projects/123/", "", 400},
      {"bad uuid in path 2", "DELETE",
       "/api/v1/teams/0190a6e5-7b1c-7cc3-9b2e-1234567890ab/members/zzz/", "", 400},
      {"sql in path", "GET", "/api/v1/projects/'%20OR%201=1--/", "", 400},
      {"bad uuid filter", "GET", "/api/v1/memberships/?user_id=42", "", 400},
      {"bad boolean filter", "GET", "/api/v1/users/?is_active=perhaps", "", 400},
      {"bad escape", "GET", "/api/v1/projects/?name=%zz", "", 400},
      {"NUL in query", "GET", "/api/v1/projects/?name=a%00b", "", 400},
      {"invalid UTF-8 in query", "GET", "/api/v1/teams/?name=%ff%fe", "", 400},
      {"query on a non-list", "GET", "/api/v1/tenant/?x=1", "", 400},
      {"patch with null", "PATCH", "/api/v1/tenant/", R"({"name": null})", 400},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = w.call(c.method, c.path, t, c.body);
    EXPECT_EQ(r.status, c.status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json");
    EXPECT_EQ(r.body.find("Failing row"), std::string::npos);
  }
}

// Serialization failures and deadlocks: the gateway runs the whole transaction again, up to
// 3 more times, then answers 503. A trigger (in this test database only) raises them on
// demand; a sequence counts the attempts, since it is not rolled back with them.
TEST_F(GatewayIT, SerializationFailuresAreRetried) {
  auto& w = W();
  // On Citus the trigger fires on the node of the tenant's shard: its function, table and
  // sequence are made on every node (each a local object there, DDL not propagated), and the
  // attempts counted are the sum over the nodes (a SELECT's answer: its first value per node).
  const bool citus =
      w.sql("SELECT to_regproc('pg_catalog.run_command_on_all_nodes') IS NOT NULL") == "t";
  auto everywhere = [&](const std::string& cmd) {
    if (!citus) return w.sql(cmd);
    std::string r = w.sql(
        "SELECT coalesce(string_agg(result, '; ') FILTER (WHERE NOT success), '') || '|' || "
        "coalesce(sum(result::bigint) FILTER (WHERE success AND result ~ '^-?[0-9]+$'), 0) FROM "
        "run_command_on_all_nodes($1)",
        {(cmd.rfind("SELECT", 0) == 0 ? "" : "SET citus.enable_ddl_propagation = off; ") + cmd});
    if (r[0] != '|') throw std::runtime_error(cmd + ": " + r);
    return r.substr(1);
  };
  everywhere("CREATE TABLE public.it_fail_conf (fails int NOT NULL)");
  everywhere("INSERT INTO public.it_fail_conf VALUES (0)");
  everywhere("CREATE SEQUENCE public.it_fail_seq");
  everywhere(R"(CREATE FUNCTION public.it_fail() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
           SET search_path = pg_catalog AS $$
           DECLARE
               attempt bigint;
           BEGIN
               IF NEW.name LIKE 'retry-%' THEN
                   attempt := nextval('public.it_fail_seq');
                   IF attempt <= (SELECT fails FROM public.it_fail_conf) THEN
                       RAISE EXCEPTION 'simulated conflict %', attempt
                           USING ERRCODE = CASE WHEN attempt % 2 = 0 THEN '40P01' ELSE '40001' END;
                   END IF;
               END IF;
               RETURN NEW;
           END $$)");
  w.sql("BEGIN");
  if (citus) w.sql("SET LOCAL citus.enable_unsafe_triggers = on");
  w.sql(
      "CREATE TRIGGER it_fail BEFORE INSERT ON coditect.projects FOR EACH ROW "
      "EXECUTE FUNCTION public.it_fail()");
  w.sql("COMMIT");
  std::string t = w.token_a("member");
  auto attempts = [&](const std::string& name, int fails) {
    everywhere("UPDATE public.it_fail_conf SET fails = " + std::to_string(fails));
    everywhere("SELECT setval('public.it_fail_seq', 1, false)");
    auto r = w.call("POST", "/api/v1/projects/", t, json{{"name", name}}.dump());
    int n = std::atoi(everywhere("SELECT nextval('public.it_fail_seq') - 1").c_str());
    return std::make_pair(r, n);
  };
  auto [ok, n_ok] = attempts("retry-" + w.suffix, 3);
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(n_ok, 4) << "three failures, then it went through";
  auto [busy, n_busy] = attempts("retry-busy-" + w.suffix, 100);
  expect_problem(busy, 503);
  EXPECT_EQ(busy.header("retry-after"), "1");
  EXPECT_EQ(n_busy, 4) << "one attempt and three retries";
  EXPECT_EQ(
      w.sql("SELECT count(*) FROM coditect.projects WHERE name = $1", {"retry-busy-" + w.suffix}),
      "0");
  w.sql("BEGIN");
  if (citus) w.sql("SET LOCAL citus.enable_unsafe_triggers = on");
  w.sql("DROP TRIGGER it_fail ON coditect.projects");
  w.sql("COMMIT");
  everywhere("DROP FUNCTION IF EXISTS public.it_fail()");
  everywhere("DROP SEQUENCE public.it_fail_seq");
  everywhere("DROP TABLE public.it_fail_conf");
}

// A statement that runs into the gateway's timeout (statement_timeout = CODITECT_TIMEOUT_MS)
// is cancelled by the database: 504.
TEST_F(GatewayIT, StatementTimeoutIs504) {
  auto& w = W();
  long timeout_ms = std::atol(env("CODITECT_IT_TIMEOUT_MS").c_str());
  if (timeout_ms <= 0 || timeout_ms > 10000) GTEST_SKIP() << "CODITECT_IT_TIMEOUT_MS not set";
  w.sql("BEGIN");
  // By tenant and key: one row lock on the tenant's shard (Citus refuses FOR UPDATE over all).
  w.sql("SELECT 1 FROM coditect.licenses WHERE tenant_id = $1 AND key_string = $2 FOR UPDATE",
        {w.tenant_a, w.license_key_a});
  auto t0 = std::chrono::steady_clock::now();
  auto r = w.call("POST", "/api/v1/licenses/acquire", w.token_a("member"),
                  json{{"key_string", w.license_key_a}, {"hardware_id", "waits"}}.dump(),
                  {{"X-Request-Id", "it-timeout-" + w.suffix}});
  auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  w.sql("COMMIT");
  expect_problem(r, 504, "57014");
  EXPECT_GE(waited, timeout_ms - 100);
  // The failure is audited afterwards, in a transaction of its own (the request's rolled back).
  EXPECT_EQ(w.sql("SELECT concat_ws('|', count(*), min(severity), min(user_id::text), "
                  "min(metadata->>'status'), min(metadata->>'code')) FROM coditect.audit_logs "
                  "WHERE tenant_id = $1 AND action = 'request.failed' AND request_id = $2",
                  {w.tenant_a, "it-timeout-" + w.suffix}),
            "1|error|" + w.user_a["member"] + "|504|57014");
  EXPECT_EQ(w.call("GET", "/api/v1/projects/", w.token_a("member")).status, 200);
}

// SIGHUP reads the key file again: a key added to the JWKS is accepted afterwards; a broken
// file is refused and the keys in use stay.
TEST_F(GatewayIT, KeysReloadOnSighup) {
  auto& w = W();
  int pid = std::atoi(env("CODITECT_IT_GATEWAY_PID").c_str());
  if (pid <= 0) GTEST_SKIP() << "CODITECT_IT_GATEWAY_PID not set";
  std::string path = env("CODITECT_IT_KEYS_DIR") + "/jwks.json";
  std::string original = read_file(path);
  auto write = [&](const std::string& text) {
    std::ofstream(path + ".tmp") << text;
    ASSERT_EQ(std::rename((path + ".tmp").c_str(), path.c_str()), 0);
  };
  auto rotated = coditect::testkeys::make_ec("ec-rotated");
  json c = {{"sub", w.user_a["owner"]}, {"tenant_id", w.tenant_a}, {"role", "owner"},
            {"exp", now_s() + 600},     {"iss", w.issuer},         {"aud", w.audience}};
  std::string t = coditect::gateway::mint_token("ES256", rotated.private_pem, c, "ec-rotated");
  expect_problem(w.call("GET", "/api/v1/tenant/", t), 401, "CD401");
  json jwks = json::parse(original);
  jwks["keys"].push_back(rotated.jwk);
  write(jwks.dump(2));
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = w.call("GET", "/api/v1/tenant/", t).status;
  }
  EXPECT_EQ(status, 200) << "the new key is used after SIGHUP";
  EXPECT_EQ(w.call("GET", "/api/v1/tenant/",
                   w.token(w.user_a["owner"], w.tenant_a, "owner", {}, "RS256", "rsa-it"))
                .status,
            200)
      << "the old keys too";
  write("{broken");
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(w.call("GET", "/api/v1/tenant/", t).status, 200) << "a broken file changes nothing";
  write(original);
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  status = 200;
  for (int i = 0; i < 100 && status == 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = w.call("GET", "/api/v1/tenant/", t).status;
  }
  EXPECT_EQ(status, 401) << "a key removed from the file is no longer accepted";
}

// Random requests built from the pieces clients send (methods, paths, ids, query parameters,
// bodies, tokens): every answer is a clear 2xx-4xx, never a 5xx or no answer.
TEST_F(GatewayIT, RandomRequestsNever500) {
  auto& w = W();
  // A fixed seed, so that a failure repeats; CODITECT_IT_SEED tries others.
  unsigned seed = env("CODITECT_IT_SEED").empty()
                      ? 20261123u
                      : static_cast<unsigned>(std::stoul(env("CODITECT_IT_SEED")));
  std::mt19937 rng(seed);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  std::vector<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  std::vector<std::string> ids = {w.project_b,
                                  w.user_a["guest"],
                                  w.membership_a["member"],
                                  "0190a6e5-7b1c-7cc3-9b2e-1234567890ab",
                                  "x",
                                  "%00",
                                  "..",
                                  "00000000-0000-0000-0000-000000000000",
                                  std::string(300, 'a')};
  std::vector<std::string> paths = {"/api/v1/tenant/",
                                    "/api/v1/users/",
                                    "/api/v1/users/{id}/",
                                    "/api/v1/memberships/",
                                    "/api/v1/memberships/{id}/",
                                    "/api/v1/teams/",
                                    "/api/v1/teams/{id}/",
                                    "/api/v1/teams/{id}/members/",
                                    "/api/v1/teams/{id}/members/{id}/",
                                    "/api/v1/projects/",
                                    "/api/v1/projects/{id}/",
                                    "/api/v1/projects/{id}/restore/",
                                    "/api/v1/licenses/",
                                    "/api/v1/licenses/acquire",
                                    "/api/v1/licenses/heartbeat",
                                    "/api/v1/licenses/release",
                                    "/api/v1/audit-logs/",
                                    "/api/v1/auth/register",
                                    "/health/",
                                    "/api/schema/"};
  std::vector<std::string> keys = {
      "page", "page_size",       "cursor",    "name",       "role",     "email", "user_id",
      "tier", "created_at__gte", "is_active", "session_id", "severity", "x",     "expiry_date__lt"};
  std::vector<std::string> values = {"1",
                                     "0",
                                     "-1",
                                     "200",
                                     "201",
                                     "abc",
                                     "",
                                     "%ff%fe",
                                     "a+b",
                                     "2026-01-01",
                                     "true",
                                     "perhaps",
                                     "1e9",
                                     "%27%3B--",
                                     "0190a6e5-7b1c-7cc3-9b2e-1234567890ab",
                                     "MjAy",
                                     std::string(600, 'z')};
  std::vector<std::string> fields = {
      "name",        "description",  "metadata", "email",       "role",        "first_name",
      "is_active",   "tier",         "features", "expiry_date", "seats_total", "key_string",
      "hardware_id", "session_id",   "user_id",  "tenant_name", "tenant_slug", "revoked_at",
      "industry",    "company_size", "id",       "tenant_id",   "created_at"};
  std::vector<json> jvalues = {json("x"),
                               json(""),
                               json(0),
                               json(-1),
                               json(1e308),
                               json(true),
                               json(nullptr),
                               json::array(),
                               json::object(),
                               json({1, "a"}),
                               json("2026-13-45"),
                               json("0190a6e5-7b1c-7cc3-9b2e-1234567890ab"),
                               json(std::string(400, 'q')),
                               json("owner"),
                               json("CODITECT-AAAA")};
  std::vector<std::string> tokens = {w.token_a("owner"), w.token_a("guest"), w.token_a("member"),
                                     "garbage", ""};
  int answered = 0;
  for (int i = 0; i < 400; ++i) {
    std::string method = pick(methods), path = pick(paths);
    for (size_t at; (at = path.find("{id}")) != std::string::npos;) path.replace(at, 4, pick(ids));
    std::string query;
    for (int q = static_cast<int>(rng() % 4); q > 0; --q)
      query += (query.empty() ? "?" : "&") + pick(keys) + "=" + pick(values);
    std::string body;
    switch (rng() % 5) {
      case 0:
        break;
      case 1: {
        json b = json::object();
        for (int f = static_cast<int>(rng() % 4); f > 0; --f)
          b[pick(fields)] = jvalues[rng() % jvalues.size()];
        body = b.dump();
        break;
      }
      case 2:
        body = pick(values);
        break;
      case 3:
        for (int n = static_cast<int>(rng() % 64); n > 0; --n)
          body.push_back(static_cast<char>(rng() % 256));
        break;
      default:
        body = json{{pick(fields), jvalues[rng() % jvalues.size()]}}.dump().substr(0, rng() % 20);
    }
    auto r = w.call(method, path + query, pick(tokens), body);
    SCOPED_TRACE(method + " " + path + query + " body " + body);
    ASSERT_NE(r.status, 0) << "no answer";
    EXPECT_LT(r.status, 500) << r.body;
    if (r.status >= 400) {
      EXPECT_EQ(r.header("content-type"), "application/problem+json");
    }
    ++answered;
  }
  EXPECT_EQ(answered, 400);
  EXPECT_EQ(w.call("GET", "/health/").status, 200);
}

TEST_F(GatewayIT, OversizeBodiesAre413) {
  auto& w = W();
  std::string t = w.token_a("owner");
  std::string just_over =
      json{{"name", "big"}, {"description", std::string(w.max_request_bytes, 'x')}}.dump();
  expect_problem(w.call("POST", "/api/v1/projects/", t, just_over), 413, "CD413");
  // Far beyond: Pistache's own limit answers 413 before the body is read and closes the
  // connection; the client may see the reset before the answer (status 0), never a 2xx or 5xx.
  auto r = w.call("POST", "/api/v1/projects/", t, std::string(8 * w.max_request_bytes, 'x'));
  EXPECT_TRUE(r.status == 413 || r.status == 0) << r.status;
  EXPECT_EQ(w.sql("SELECT count(*) FROM coditect.projects WHERE name = 'big'"), "0");
  // Below the limit: fine.
  EXPECT_EQ(
      w.call("POST", "/api/v1/projects/", t,
             json{{"name", "big-ok"}, {"description", std::string(w.max_request_bytes / 2, 'x')}}
                 .dump())
          .status,
      201);
}

TEST_F(GatewayIT, UnknownRoutesAndWrongMethods) {
  auto& w = W();
  std::string t = w.token_a("owner");
  expect_problem(w.call("GET", "/api/v1/nothing/", t), 404, "CD404");
  expect_problem(w.call("GET", "/", t), 404, "CD404");
  expect_problem(w.call("GET", "/api/v1/projects/a/b/c/d/", t), 404, "CD404");
  auto r = w.call("PUT", "/api/v1/projects/", t, "{}");
  expect_problem(r, 405, "CD405");
  EXPECT_EQ(r.header("allow"), "GET, POST");
  r = w.call("POST", "/api/v1/licenses/heartbeat", t, "{}");
  expect_problem(r, 405, "CD405");
  EXPECT_EQ(r.header("allow"), "PUT");
  r = w.call("DELETE", "/health/");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET");
  // Malformed requests on the wire.
  auto raw =
      coditect::it::http_raw(w.host, w.port, "BREW /api/v1/projects/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_GE(raw.status, 400);
  EXPECT_LT(raw.status, 500);
  raw = coditect::it::http_raw(w.host, w.port,
                               "GET /health/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
  EXPECT_LT(raw.status, 500);
  raw = coditect::it::http_raw(w.host, w.port, "complete nonsense\r\n\r\n");
  EXPECT_LT(raw.status, 500);
  // Still serving.
  EXPECT_EQ(w.call("GET", "/health/").status, 200);
}

// Text from the request that the gateway echoes into a response header (a token's alg in
// WWW-Authenticate, the request id) never carries a control character: no header injection.
TEST_F(GatewayIT, EchoedHeaderValuesCannotInjectHeaders) {
  auto& w = W();
  auto b64 = [](const json& j) { return coditect::gateway::base64url_encode(j.dump()); };
  json claims = {{"sub", w.user_a["owner"]},
                 {"tenant_id", w.tenant_a},
                 {"role", "owner"},
                 {"exp", now_s() + 600}};
  for (std::string alg : {"HS256\r\nX-Injected: yes", "x\nX-Injected: yes", "x\rX-Injected: yes"}) {
    SCOPED_TRACE(alg);
    std::string token = b64({{"alg", alg}, {"typ", "JWT"}}) + "." + b64(claims) + ".c2ln";
    auto r = w.call("GET", "/api/v1/tenant/", token);
    expect_problem(r, 401, "CD401");
    EXPECT_TRUE(r.header("x-injected").empty()) << "injected header: " << r.header("x-injected");
    std::string h = r.header("www-authenticate");
    EXPECT_EQ(h.find_first_of("\r\n"), std::string::npos);
    EXPECT_EQ(h.rfind("Bearer realm=\"coditect\", error=\"invalid_token\"", 0), 0u) << h;
  }
  // The request id is echoed only when sane; a CR/LF one is replaced, not echoed.
  auto raw = coditect::it::http_raw(
      w.host, w.port, "GET /health/ HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rX-Injected: b\r\n\r\n");
  EXPECT_TRUE(raw.header("x-injected").empty());
  EXPECT_EQ(raw.header("x-request-id").size(), 36u);
}

// libpq passes parameters as C strings: a NUL would end them early (two hardware ids that
// differ after a NUL would be one machine). Refused wherever a client can put one.
TEST_F(GatewayIT, NulCharactersAreRefusedEverywhere) {
  auto& w = W();
  std::string t = w.token_a("member");
  for (std::string hw : {"hw-nul\\u0000a", "hw-nul\\u0000b"}) {
    auto r =
        w.call("POST", "/api/v1/licenses/acquire", t,
               R"({"key_string": ")" + w.license_key_a + R"(", "hardware_id": ")" + hw + R"("})");
    expect_problem(r, 400, "CD400");
  }
  EXPECT_EQ(
      w.sql("SELECT count(*) FROM coditect.license_sessions WHERE hardware_id LIKE 'hw-nul%'"),
      "0");
  std::string owner = w.token_a("owner");
  expect_problem(w.call("POST", "/api/v1/projects/", owner, R"({"name": "n", "na\u0000me": "x"})"),
                 400, "CD400");
  expect_problem(
      w.call("POST", "/api/v1/projects/", owner, R"({"name": "n", "metadata": {"k\u0000": 1}})"),
      400, "CD400");
  expect_problem(w.call("POST", "/api/v1/projects/", owner,
                        R"({"name": "n", "metadata": {"a": ["ok", "b\u0000"]}})"),
                 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/projects/?name=a%00b", owner), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/projects/?na%00me=a", owner), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/tenant%00/", owner), 400, "CD400");
  expect_problem(w.call("DELETE", "/api/v1/licenses/release?session_id=%00", owner), 400);
}

// A Content-Length that is negative, not a number or beyond the limit: a 400 or 413 problem,
// never a 500 with the text of a C++ exception.
TEST_F(GatewayIT, BadContentLengthIsAProblemNotA500) {
  auto& w = W();
  std::string auth = "Authorization: Bearer " + w.token_a("owner") + "\r\n";
  struct Case {
    std::string value;
    int status;
  };
  for (const auto& c : std::vector<Case>{{"-1", 400},
                                         {"-5", 400},
                                         {"abc", 400},
                                         {"1e3", 400},
                                         {"99999999999999999999999", 413},
                                         {"18446744073709551615", 413},
                                         {std::to_string(8 * w.max_request_bytes), 413}}) {
    SCOPED_TRACE(c.value);
    auto r = coditect::it::http_raw(
        w.host, w.port,
        "POST /api/v1/projects/ HTTP/1.1\r\nHost: x\r\n" + auth +
            "Content-Type: application/json\r\nContent-Length: " + c.value + "\r\n\r\n{}",
        5);
    expect_problem(r, c.status);
    for (const char* leak : {"basic_string", "stoull", "stol", "_M_", "what()"})
      EXPECT_EQ(r.body.find(leak), std::string::npos) << r.body;
  }
  auto two = coditect::it::http_raw(w.host, w.port,
                                    "POST /api/v1/projects/ HTTP/1.1\r\nHost: x\r\n" + auth +
                                        "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                                    5);
  expect_problem(two, 400);
  EXPECT_EQ(w.call("GET", "/health/").status, 200);
}

// ?role=a&role=b is not silently read as one of them.
TEST_F(GatewayIT, RepeatedQueryParametersAre400) {
  auto& w = W();
  std::string t = w.token_a("owner");
  auto r = w.call("GET", "/api/v1/teams/" + w.fresh_team() + "/members/?role=lead&role=member", t);
  expect_problem(r, 400, "CD400");
  EXPECT_NE(body_of(r).value("detail", "").find("\"role\""), std::string::npos) << r.body;
  expect_problem(w.call("GET", "/api/v1/projects/?name=a&name=b", t), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/projects/?page=1&page=2", t), 400, "CD400");
  expect_problem(w.call("GET", "/api/v1/projects/?name=a&n%61me=b", t), 400, "CD400");
  std::string sid = "0190a6e5-7b1c-7cc3-9b2e-1234567890ab";
  r = w.call("DELETE", "/api/v1/licenses/release?session_id=" + sid + "&session_id=" + sid,
             w.token_a("member"));
  expect_problem(r, 400, "CD400");
  EXPECT_NE(body_of(r).value("detail", "").find("session_id"), std::string::npos) << r.body;
  EXPECT_EQ(w.call("GET", "/api/v1/projects/?name=a&page=1", t).status, 200);
  // A request line past the gateway's 64 KiB head limit (but within the request size) is
  // refused, not parsed without the checks that read the head.
  r = w.call("GET", "/api/v1/projects/?name=a&name=b&pad=" + std::string(70000, 'x'), t);
  EXPECT_EQ(r.status, 431) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
}

// Pagination links never follow the client's Host or X-Forwarded-Proto: relative by default,
// on the configured CODITECT_PUBLIC_URL when set.
TEST_F(GatewayIT, LinksNeverFollowTheHostHeader) {
  auto& w = W();
  std::string t = w.token_a("owner");
  for (int i = 0; i < 3; ++i) w.fresh_project();
  auto r = coditect::it::http_raw(w.host, w.port,
                                  "GET /api/v1/projects/?page_size=1 HTTP/1.1\r\nHost: "
                                  "evil.example\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: "
                                  "evil.example\r\nAuthorization: Bearer " +
                                      t + "\r\n\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["next"], "/api/v1/projects/?page=2&page_size=1");
  auto doc = coditect::it::http_raw(w.host, w.port,
                                    "GET /api/schema/ HTTP/1.1\r\nHost: evil.example\r\n\r\n");
  ASSERT_EQ(doc.status, 200);
  EXPECT_EQ(doc.body.find("evil.example"), std::string::npos);

  Spawned g;
  spawn_gateway(g, {{"CODITECT_PUBLIC_URL", "https://api.coditect.test/core/"}});
  if (HasFatalFailure()) return;
  r = coditect::it::http_raw("127.0.0.1", g.port,
                             "GET /api/v1/projects/?page=2&page_size=1 HTTP/1.1\r\nHost: "
                             "evil.example\r\nAuthorization: Bearer " +
                                 t + "\r\n\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["next"],
            "https://api.coditect.test/core/api/v1/projects/?page=3&page_size=1");
  EXPECT_EQ(body_of(r)["previous"],
            "https://api.coditect.test/core/api/v1/projects/?page=1&page_size=1");
  doc = coditect::it::http_request("127.0.0.1", g.port, "GET", "/api/schema/");
  EXPECT_EQ(body_of(doc)["servers"][0]["url"], "https://api.coditect.test/core");
}

// An HS256 secret shorter than 32 bytes is refused at start: a clear error, exit code 2.
TEST_F(GatewayIT, ShortHs256SecretIsRefusedAtStart) {
  for (std::string secret : {"k", "0123456789abcdef0123456789abcde"}) {
    SCOPED_TRACE(std::to_string(secret.size()) + " bytes");
    Spawned g;
    spawn_gateway(g, {{"CODITECT_JWT_SECRET", secret}}, 0, false);
    if (HasFatalFailure()) return;
    ASSERT_TRUE(g.wait_exit(10000)) << "the gateway started with a short secret";
    EXPECT_EQ(g.exit_status, 2);
    EXPECT_NE(g.log().find("at least 32"), std::string::npos) << g.log();
  }
}

// ~1,100 idle connections against the common soft limit of 1024 open files: the gateway
// raises the soft limit to the hard one at start, so it keeps accepting and /health/ answers
// (before: accept failed with EMFILE, the accept thread spun at 100% and /health/ waited for
// the header timeout to free descriptors).
TEST_F(GatewayIT, ManyIdleConnectionsLeaveHealthAnswering) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2048)
    GTEST_SKIP() << "the hard open-file limit (" << rl.rlim_max << ") leaves no room above 1024";
  if (rl.rlim_cur < 1400) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 4096);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  Spawned g;
  // Header timeout 20 s: the idle connections stay for the whole test.
  spawn_gateway(g, {{"CODITECT_TIMEOUT_MS", "10000"}}, 1024);
  if (HasFatalFailure()) return;
  IdleConnections idle;
  ASSERT_TRUE(idle.open(g.port, 1100));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the gateway accept them
  auto h = coditect::it::http_raw(
      "127.0.0.1", g.port, "GET /health/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5);
  EXPECT_EQ(h.status, 200) << "no answer within 5 s with 1,100 idle connections open";
  EXPECT_TRUE(idle.readable().empty()) << "connections within the cap are not closed";
  idle.close_all();
  EXPECT_EQ(coditect::it::http_request("127.0.0.1", g.port, "GET", "/health/").status, 200);
}

// Past CODITECT_MAX_CONNECTIONS a new connection gets 503 and is closed at once; the ones
// within the cap are served; once they close, new connections are accepted again.
TEST_F(GatewayIT, ConnectionsPastTheCapAreRefused) {
  Spawned g;
  spawn_gateway(g, {{"CODITECT_MAX_CONNECTIONS", "16"}, {"CODITECT_TIMEOUT_MS", "10000"}});
  if (HasFatalFailure()) return;
  // The start-up probes' connections are closed by now, not counted any more.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  IdleConnections idle;
  ASSERT_TRUE(idle.open(g.port, 24));
  std::vector<size_t> refused;
  for (int i = 0; i < 250 && refused.size() < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    refused = idle.readable();
  }
  ASSERT_EQ(refused.size(), 8u) << "24 connections against a cap of 16";
  for (size_t i : refused) {
    std::string got = read_some(idle.fds[i]);
    EXPECT_TRUE(got.empty() || got.rfind("HTTP/1.1 503", 0) == 0) << got;
  }
  // One within the cap is served.
  size_t kept = 0;
  while (std::find(refused.begin(), refused.end(), kept) != refused.end()) ++kept;
  std::string req = "GET /health/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(idle.fds[kept], req.data(), req.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(req.size()));
  EXPECT_EQ(read_some(idle.fds[kept]).rfind("HTTP/1.1 200", 0), 0u);
  idle.close_all();
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    status = coditect::it::http_request("127.0.0.1", g.port, "GET", "/health/").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200) << "closed connections no longer count";
}

// A connection that sends nothing, or half a request line, is closed after the header
// timeout (twice CODITECT_TIMEOUT_MS): idle unauthenticated connections cannot pile up.
TEST_F(GatewayIT, IdleConnectionsAreClosedAfterTheHeaderTimeout) {
  Spawned g;
  spawn_gateway(g, {{"CODITECT_TIMEOUT_MS", "500"}});
  if (HasFatalFailure()) return;
  IdleConnections idle;
  ASSERT_TRUE(idle.open(g.port, 2));
  std::string half = "GET /health/ HTTP/1.1\r\nHost:";
  ASSERT_EQ(send(idle.fds[1], half.data(), half.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(half.size()));
  for (int i = 0; i < 300 && idle.readable().size() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(idle.readable().size(), 2u) << "still open after 15 s";
  for (int fd : idle.fds) {
    std::string got = read_some(fd);  // the end, possibly after a 408
    EXPECT_TRUE(got.empty() || got.rfind("HTTP/1.1 408", 0) == 0) << got;
  }
}

// Connections that the server closed while idle (pg_terminate_backend, a restart,
// idle_session_timeout) are not handed to requests: with the database up, no request fails,
// writes included.
TEST_F(GatewayIT, PooledConnectionsEndedByTheServerAreReplaced) {
  auto& w = W();
  std::string t = w.token_a("member");
  // Warm every pooled connection (4 worker threads, a pool of 4).
  std::vector<std::thread> warm;
  for (int i = 0; i < 8; ++i)
    warm.emplace_back([&] { w.call("GET", "/api/v1/projects/?page_size=1", t); });
  for (auto& th : warm) th.join();
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Waits (up to 5 s each) until every one of them has exited.
    std::string ended = w.sql(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM "
        "pg_stat_activity WHERE application_name = 'coditect-gateway' AND datname = "
        "current_database()");
    ASSERT_GE(std::atoi(ended.c_str()), 1);
    // A write first: before, it took the stale connection and failed with 503.
    auto first =
        w.call("POST", "/api/v1/projects/", t,
               json{{"name", "after terminate " + std::to_string(round) + w.suffix}}.dump());
    EXPECT_EQ(first.status, 201) << first.body;
    std::atomic<int> n_ok{0};
    std::mutex mu;
    std::vector<std::string> failures;
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c)
      clients.emplace_back([&, c] {
        for (int i = 0; i < 5; ++i) {
          auto r = i % 2 ? w.call("GET", "/api/v1/projects/?page_size=1", t)
                         : w.call("POST", "/api/v1/licenses/acquire", t,
                                  json{{"key_string", w.license_key_a},
                                       {"hardware_id", "stale-" + std::to_string(c)}}
                                      .dump());
          if (r.status >= 200 && r.status < 300) {
            ++n_ok;
          } else {
            std::lock_guard<std::mutex> lock(mu);
            failures.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
          }
        }
      });
    for (auto& th : clients) th.join();
    std::string all;
    for (const auto& f : failures) all += "\n  " + f;
    EXPECT_EQ(n_ok.load(), 20) << "failed:" << all;
  }
}

// Last (gtest runs tests in the order of the file): the database stops and starts again.
TEST_F(GatewayIT, ZDatabaseStopsAndStartsUnderRequests) {
  auto& w = W();
  std::string stop = env("CODITECT_IT_PG_STOP"), start = env("CODITECT_IT_PG_START");
  if (stop.empty() || start.empty())
    GTEST_SKIP() << "CODITECT_IT_PG_STOP / CODITECT_IT_PG_START not set";
  std::string t = w.token_a("member");
  ASSERT_EQ(w.call("GET", "/api/v1/projects/", t).status, 200);

  // Clients keep calling while the database goes away and comes back.
  std::atomic<bool> running{true};
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::mutex seen_mu;
  std::vector<std::string> seen;  // the unexpected answers, for the failure message
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&, i] {
      while (running) {
        auto r = i % 2 ? w.call("GET", "/api/v1/projects/", t)
                       : w.call("POST", "/api/v1/licenses/acquire", t,
                                json{{"key_string", w.license_key_a},
                                     {"hardware_id", "down-" + std::to_string(i)}}
                                    .dump());
        if (r.status == 200)
          ++ok;
        else if (r.status == 503 && r.header("retry-after") == "1")
          ++unavailable;
        else {
          ++other;
          std::lock_guard<std::mutex> lock(seen_mu);
          seen.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200) + r.error);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  w.sql("SELECT 1");
  PQfinish(w.db);
  ASSERT_EQ(std::system(stop.c_str()), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto h = w.call("GET", "/health/");
  expect_problem(h, 503);
  EXPECT_EQ(h.header("retry-after"), "1");
  auto down = w.call("GET", "/api/v1/projects/", t);
  expect_problem(down, 503);
  EXPECT_EQ(down.header("retry-after"), "1");
  expect_problem(w.call("POST", "/api/v1/projects/", t, R"({"name": "while down"})"), 503);
  int unavailable_while_down = unavailable;
  ASSERT_EQ(std::system(start.c_str()), 0);
  bool healthy = false;
  for (int i = 0; i < 150 && !healthy; ++i) {
    healthy = w.call("GET", "/health/").status == 200;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(healthy) << "the gateway reconnects by itself";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  running = false;
  for (auto& c : clients) c.join();
  EXPECT_GT(unavailable_while_down, 0);
  std::string unexpected;
  for (const auto& u : seen) unexpected += "\n  " + u;
  EXPECT_EQ(other.load(), 0) << "only 200 or 503 with Retry-After, never a 500 or no answer:"
                             << unexpected;
  // Every connection of the pool works again, for reads and writes.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(w.call("GET", "/api/v1/projects/", t).status, 200);
    EXPECT_EQ(
        w.call("POST", "/api/v1/projects/", t, json{{"name", "after " + std::to_string(i)}}.dump())
            .status,
        201);
  }
  w.db = PQconnectdb(env("CODITECT_IT_DATABASE_URL").c_str());
}

// The very last: SIGTERM while a request waits in the database. The answer still reaches the
// client, new requests are refused meanwhile, and the gateway then exits.
TEST_F(GatewayIT, ZZShutdownWithARequestInFlight) {
  auto& w = W();
  int pid = std::atoi(env("CODITECT_IT_GATEWAY_PID").c_str());
  if (pid <= 0) GTEST_SKIP() << "CODITECT_IT_GATEWAY_PID not set";
  if (PQstatus(w.db) != CONNECTION_OK) GTEST_SKIP() << "no database connection";
  std::string t = w.token_a("member");
  // Hold the license's row lock, so that an acquire waits in the database.
  w.sql("BEGIN");
  // By tenant and key: one row lock on the tenant's shard (Citus refuses FOR UPDATE over all).
  w.sql("SELECT 1 FROM coditect.licenses WHERE tenant_id = $1 AND key_string = $2 FOR UPDATE",
        {w.tenant_a, w.license_key_a});
  HttpResult in_flight;
  std::thread client([&] {
    in_flight = w.call("POST", "/api/v1/licenses/acquire", t,
                       json{{"key_string", w.license_key_a}, {"hardware_id", "in-flight"}}.dump());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // A new request meanwhile is refused. (Its connection may land on the worker thread that
  // waits with the acquire; it is then read after that one, still while draining, or finds
  // the gateway gone: 503 or no answer, never served.)
  HttpResult refused;
  std::thread late([&] { refused = w.call("GET", "/health/"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  w.sql("COMMIT");
  late.join();
  EXPECT_TRUE(refused.status == 503 || refused.status == 0) << refused.status;
  if (refused.status == 503) {
    EXPECT_EQ(refused.header("connection"), "Close");
  }
  client.join();
  EXPECT_EQ(in_flight.status, 200) << in_flight.body;
  EXPECT_EQ(body_of(in_flight).value("hardware_id", ""), "in-flight");
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = w.call("GET", "/health/").status == 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "the gateway stops listening";
}

// ---------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-keys") {
    std::string dir = argv[2];
    auto rsa = coditect::testkeys::make_rsa("rsa-it");
    auto ec = coditect::testkeys::make_ec("ec-it");
    std::ofstream(dir + "/rsa.key") << rsa.private_pem;
    std::ofstream(dir + "/ec.key") << ec.private_pem;
    std::ofstream(dir + "/jwks.json") << json{{"keys", {rsa.jwk, ec.jwk}}}.dump(2) << "\n";
    return 0;
  }
  ::testing::InitGoogleTest(&argc, argv);
  try {
    W().setup();
  } catch (const std::exception& e) {
    std::cerr << "fixtures failed: " << e.what() << "\n";
    return 1;
  }
  return RUN_ALL_TESTS();
}
