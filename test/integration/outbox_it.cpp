// Integration test of the outbox (sql/53_outbox.sql) and coditect-worker over real HTTP: an
// admin makes a webhook endpoint and gets its secret through the gateway; an event is emitted
// (outbox_emit as the superuser: the workflow engine's call); the worker, started here, POSTs it
// to a receiver in this process that answers 500 once and 200 after; the test checks the retry,
// the same Idempotency-Key on both attempts, the signature with the endpoint's secret, and the
// outcome the admin reads back. Without the CODITECT_IT_* variables it is skipped.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <ctime>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "it_support.hpp"
#include "webhook_signature.hpp"

using nlohmann::json;

namespace {

using coditect::it::env;

// One request as the receiver saw it.
struct Received {
  std::string head;  // request line and headers, names as sent
  std::string body;
  std::string header(const std::string& name) const {
    std::string lower_head = head, key = "\r\n" + name + ":";
    for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower_head.find(key);
    if (at == std::string::npos) return "";
    size_t start = at + key.size(), end = head.find("\r\n", start);
    std::string v = head.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

// A webhook receiver on 127.0.0.1 (a free port), over TLS when given a server context:
// answers 500 to the first request when fail_first, else 200.
class Receiver {
 public:
  explicit Receiver(bool fail_first = true, SSL_CTX* tls = nullptr)
      : fail_first_(fail_first), tls_(tls) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0)
      throw std::runtime_error("receiver: bind/listen failed");
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  std::vector<Received> requests() {
    std::lock_guard<std::mutex> g(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = nullptr;
      if (tls_) {
        ssl = SSL_new(tls_);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) != 1) {  // a client that refused our certificate
          SSL_free(ssl);
          close(c);
          continue;
        }
      }
      auto read_some = [&](char* b, size_t n) -> ssize_t {
        return ssl ? SSL_read(ssl, b, static_cast<int>(n)) : recv(c, b, n, 0);
      };
      std::string data;
      char buf[4096];
      size_t head_end = std::string::npos, need = 0;
      for (;;) {
        ssize_t n = read_some(buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
        if (head_end == std::string::npos &&
            (head_end = data.find("\r\n\r\n")) != std::string::npos) {
          Received tmp{data.substr(0, head_end + 2), ""};
          need = head_end + 4 + std::stoul("0" + tmp.header("Content-Length"));
        }
        if (head_end != std::string::npos && data.size() >= need) break;
      }
      if (head_end == std::string::npos) {
        if (ssl) SSL_free(ssl);
        close(c);
        continue;
      }
      int nth;
      {
        std::lock_guard<std::mutex> g(mu_);
        requests_.push_back({data.substr(0, head_end + 2), data.substr(head_end + 4)});
        nth = static_cast<int>(requests_.size());
      }
      std::string answer =
          nth == 1 && fail_first_
              ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n"
              : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      if (ssl) {
        SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
        SSL_shutdown(ssl);
        SSL_free(ssl);
      } else {
        send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
      close(c);
    }
  }

  bool fail_first_;
  SSL_CTX* tls_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Received> requests_;
};

// A receiver's check of Coditect-Signature, as the README tells one to do it (the product's own
// verifier: recompute HMAC-SHA256(secret, "<t>.<raw body>"), compare in constant time).
bool signature_valid(const std::string& header, const std::string& secret,
                     const std::string& body) {
  return coditect::webhook::verify(secret, header, body, std::time(nullptr), 300) ==
         coditect::webhook::Verdict::Valid;
}

}  // namespace

TEST(OutboxIT, DeliveryRetriedAfterTheReceiverFailsOnce) {
  coditect::it::Target t;
  if (!t.connect()) GTEST_SKIP() << "CODITECT_IT_* not set";
  coditect::it::WorkerProcess worker;
  Receiver receiver;
  std::string suffix = std::to_string(std::random_device{}() % 1000000000);
  json tenant = json::parse(
      t.sql("SELECT coditect.create_tenant('Outbox', $1, 'ob@it.test', 'owner-ob@it.test')",
            {"it-ob-" + suffix}));
  std::string tid = tenant["tenant_id"], owner = tenant["user_id"];
  coditect::it::Headers h = {{"Authorization", "Bearer " + t.token(owner, tid, "owner")},
                             {"Content-Type", "application/json"}};

  // The endpoint and its secret, through the API.
  std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hooks/coditect";
  auto created = coditect::it::http_request(
      t.host, t.port, "POST", "/api/v1/webhook-endpoints/",
      json{{"name", "ops"}, {"url", url}, {"events", {"approval.requested"}}}.dump(), h);
  ASSERT_EQ(created.status, 201) << created.body;
  json endpoint = json::parse(created.body);
  EXPECT_EQ(endpoint.find("secret"), endpoint.end()) << "the create answer shows no secret";
  std::string eid = endpoint["id"];
  auto rotated = coditect::it::http_request(
      t.host, t.port, "POST", "/api/v1/webhook-endpoints/" + eid + "/rotate-secret/", "", h);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  std::string secret = json::parse(rotated.body)["secret"];
  ASSERT_EQ(secret.rfind("whsec_", 0), 0u) << secret;
  ASSERT_EQ(secret.size(), 70u);
  auto listed =
      coditect::it::http_request(t.host, t.port, "GET", "/api/v1/webhook-endpoints/", "", h);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body.find(secret), std::string::npos) << "a list answer never shows it";

  // The engine's call, committed: one delivery.
  json payload = {{"approval_id", "a-1"}, {"step", "legal review"}};
  ASSERT_EQ(t.sql("SELECT coditect_internal.outbox_emit($1, 'approval.requested', $2)",
                  {tid, payload.dump()}),
            "1");
  std::string did = t.sql("SELECT id FROM coditect.webhook_deliveries WHERE tenant_id = $1", {tid});

  // The worker: quick retries for the test (the backoff base is 200 ms).
  ASSERT_TRUE(worker.start({{"CODITECT_WORKER_POLL_MS", "100"},
                            {"CODITECT_WORKER_ALLOW_PRIVATE", "1"},
                            {"CODITECT_WORKER_BACKOFF_BASE_MS", "200"},
                            {"CODITECT_WORKER_MAX_ATTEMPTS", "5"},
                            {"CODITECT_WORKER_TIMEOUT_MS", "3000"},
                            {"CODITECT_WORKER_CONNECT_TIMEOUT_MS", "3000"}},
                           env("CODITECT_IT_WORKER_LOG").empty() ? "/tmp/coditect-worker-it.log"
                                                                 : env("CODITECT_IT_WORKER_LOG")))
      << "CODITECT_IT_WORKER_DATABASE_URL not set";
  std::string status;
  for (int i = 0; i < 300 && status != "delivered" && status != "dead"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status =
        t.sql("SELECT status FROM coditect.webhook_deliveries WHERE tenant_id = $1 AND id = $2",
              {tid, did});
  }
  EXPECT_EQ(worker.stop(), 0) << "the worker stops cleanly on SIGTERM";
  ASSERT_EQ(status, "delivered");

  auto reqs = receiver.requests();
  ASSERT_EQ(reqs.size(), 2u) << "one failed attempt (500), one delivered (200)";
  for (const auto& r : reqs) {
    EXPECT_EQ(r.head.rfind("POST /hooks/coditect HTTP/1.1\r\n", 0), 0u) << r.head;
    EXPECT_EQ(r.header("Idempotency-Key"), did)
        << "the same key, the delivery's id, on each attempt";
    EXPECT_EQ(r.header("Coditect-Event"), "approval.requested");
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_TRUE(signature_valid(r.header("Coditect-Signature"), secret, r.body))
        << r.header("Coditect-Signature");
    EXPECT_FALSE(signature_valid(r.header("Coditect-Signature"), secret, r.body + " "))
        << "a changed body does not verify";
    json body = json::parse(r.body);
    EXPECT_EQ(body["id"], did);
    EXPECT_EQ(body["event"], "approval.requested");
    EXPECT_EQ(body["tenant_id"], tid);
    EXPECT_EQ(body["data"], payload);
    EXPECT_TRUE(body["created_at"].is_string());
  }
  EXPECT_EQ(reqs[0].body, reqs[1].body) << "the same event, byte for byte";

  // The outcome, as the admin reads it.
  auto got = coditect::it::http_request(t.host, t.port, "GET",
                                        "/api/v1/webhook-deliveries/" + did + "/", "", h);
  ASSERT_EQ(got.status, 200) << got.body;
  json d = json::parse(got.body);
  EXPECT_EQ(d["status"], "delivered");
  EXPECT_EQ(d["attempts"], 2);
  EXPECT_EQ(d["last_status_code"], 200);
  EXPECT_TRUE(d["delivered_at"].is_string());
  EXPECT_EQ(got.body.find(secret), std::string::npos);
  auto under = coditect::it::http_request(
      t.host, t.port, "GET", "/api/v1/webhook-endpoints/" + eid + "/webhook-deliveries/", "", h);
  ASSERT_EQ(under.status, 200) << under.body;
  EXPECT_EQ(json::parse(under.body)["results"][0]["id"], did);

  t.sql("SELECT coditect.purge_tenant($1)", {tid});
}

// Tenants choose the URLs: by default the worker connects to no loopback or private address.
TEST(OutboxIT, PrivateAddressesAreRefusedByDefault) {
  coditect::it::Target t;
  if (!t.connect()) GTEST_SKIP() << "CODITECT_IT_* not set";
  coditect::it::WorkerProcess worker;
  Receiver receiver;
  auto ids = t.new_tenant("Outbox private");
  std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/inside";
  t.sql(
      "INSERT INTO coditect.webhook_endpoints (tenant_id, name, url) VALUES ($1, 'inside', $2) "
      "RETURNING id",
      {ids.tenant, url});
  ASSERT_EQ(
      t.sql("SELECT coditect_internal.outbox_emit($1, 'workflow.failed', '{}')", {ids.tenant}),
      "1");
  ASSERT_TRUE(worker.start({{"CODITECT_WORKER_POLL_MS", "100"},
                            {"CODITECT_WORKER_MAX_ATTEMPTS", "1"},
                            {"CODITECT_WORKER_CONNECT_TIMEOUT_MS", "3000"}},
                           "/tmp/coditect-worker-it-private.log"))
      << "CODITECT_IT_WORKER_DATABASE_URL not set";
  std::string outcome;
  for (int i = 0; i < 100 && outcome.rfind("dead", 0) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    outcome = t.sql(
        "SELECT status || ' ' || coalesce(last_error, '') FROM coditect.webhook_deliveries WHERE "
        "tenant_id = $1",
        {ids.tenant});
  }
  EXPECT_EQ(worker.stop(), 0);
  EXPECT_EQ(outcome, "dead refused: 127.0.0.1 resolves to a private or local address");
  EXPECT_TRUE(receiver.requests().empty()) << "nothing reached the inside";
  t.sql("SELECT coditect.purge_tenant($1)", {ids.tenant});
}

namespace {

// A self-signed certificate for 127.0.0.1 (IP address only) and its key, in dir/<name>.{crt,key}.
bool make_certificate(const std::string& dir, const std::string& name) {
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "
      "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      dir + "/" + name + ".key -out " + dir + "/" + name + ".crt 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

SSL_CTX* server_context(const std::string& dir, const std::string& name) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx ||
      SSL_CTX_use_certificate_file(ctx, (dir + "/" + name + ".crt").c_str(), SSL_FILETYPE_PEM) !=
          1 ||
      SSL_CTX_use_PrivateKey_file(ctx, (dir + "/" + name + ".key").c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("server TLS context");
  return ctx;
}

}  // namespace

// https:// receivers: one whose certificate the worker trusts (CODITECT_WORKER_CA_FILE), one
// it does not, and the trusted one under a name its certificate does not hold. Only the first
// gets the request; the others die with a certificate error and never see the body.
TEST(OutboxIT, HttpsVerifiesTheCertificateAndTheName) {
  coditect::it::Target t;
  if (!t.connect()) GTEST_SKIP() << "CODITECT_IT_* not set";
  char tmpl[] = "/tmp/coditect-outbox-tls.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(make_certificate(dir, "trusted") && make_certificate(dir, "stranger"));
  SSL_CTX* trusted_ctx = server_context(dir, "trusted");
  SSL_CTX* stranger_ctx = server_context(dir, "stranger");
  {
    Receiver trusted(false, trusted_ctx), stranger(false, stranger_ctx);
    coditect::it::WorkerProcess worker;
    std::string suffix = std::to_string(std::random_device{}() % 1000000000);
    std::string tid =
        json::parse(t.sql("SELECT coditect.create_tenant('Outbox TLS', $1, 'obt@it.test', "
                          "'owner-obt@it.test')",
                          {"it-obt-" + suffix}))["tenant_id"];
    auto add = [&](const std::string& name, const std::string& url) {
      t.sql(
          "INSERT INTO coditect.webhook_endpoints (tenant_id, name, url) VALUES ($1, $2, $3) "
          "RETURNING id",
          {tid, name, url});
    };
    add("trusted", "https://127.0.0.1:" + std::to_string(trusted.port()) + "/in");
    add("stranger", "https://127.0.0.1:" + std::to_string(stranger.port()) + "/in");
    add("misnamed", "https://localhost:" + std::to_string(trusted.port()) + "/in");
    ASSERT_EQ(
        t.sql("SELECT coditect_internal.outbox_emit($1, 'workflow.completed', '{\"ok\": true}')",
              {tid}),
        "3");
    ASSERT_TRUE(worker.start({{"CODITECT_WORKER_POLL_MS", "100"},
                              {"CODITECT_WORKER_ALLOW_PRIVATE", "1"},
                              {"CODITECT_WORKER_MAX_ATTEMPTS", "1"},
                              {"CODITECT_WORKER_CA_FILE", dir + "/trusted.crt"}},
                             dir + "/worker.log"));
    std::string pending = "3";
    for (int i = 0; i < 300 && pending != "0"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      pending = t.sql(
          "SELECT count(*) FROM coditect.webhook_deliveries WHERE tenant_id = $1 AND status = "
          "'pending'",
          {tid});
    }
    EXPECT_EQ(worker.stop(), 0);
    ASSERT_EQ(pending, "0");
    EXPECT_EQ(t.sql("SELECT string_agg(e.name || ':' || d.status || ':' || d.attempts || ':' || "
                    "coalesce(d.last_error, '-'), ' | ' ORDER BY e.name) FROM "
                    "coditect.webhook_deliveries d "
                    "JOIN coditect.webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = "
                    "d.endpoint_id "
                    "WHERE d.tenant_id = $1",
                    {tid}),
              "misnamed:dead:1:tls: certificate: hostname mismatch | "
              "stranger:dead:1:tls: certificate: self-signed certificate | trusted:delivered:1:-");
    ASSERT_EQ(trusted.requests().size(), 1u);
    EXPECT_EQ(json::parse(trusted.requests()[0].body)["data"], json::parse(R"({"ok": true})"));
    EXPECT_TRUE(stranger.requests().empty());
    t.sql("SELECT coditect.purge_tenant($1)", {tid});
  }
  SSL_CTX_free(trusted_ctx);
  SSL_CTX_free(stranger_ctx);
  std::system(("rm -rf " + dir).c_str());
}
