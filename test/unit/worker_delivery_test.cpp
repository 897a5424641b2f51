#include "webhook_signature.hpp"
#include "worker_delivery.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace coditect::worker;

namespace {

Delivery sample() {
  Delivery d;
  d.id = "01a2f0c4-0000-7000-8000-000000000001";
  d.tenant_id = "01a2f0c4-0000-7000-8000-0000000000aa";
  d.event = "approval.requested";
  d.url = "https://hooks.example.com/in";
  d.payload = R"({"approval_id": "x", "n": 1})";
  d.created_at = "2026-11-29T20:00:00.123456Z";
  d.secret = std::string("\x00\x01\x02\xff", 4);
  return d;
}

}  // namespace

TEST(WorkerUrl, HttpAndHttpsWithDefaults) {
  auto u = parse_url("http://127.0.0.1:8081/hook?x=1");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8081);
  EXPECT_EQ(u->target, "/hook?x=1");
  EXPECT_EQ(u->host_header(), "127.0.0.1:8081");

  u = parse_url("HTTPS://Hooks.Example.com");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->host_header(), "Hooks.Example.com");

  u = parse_url("http://h.test?q=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/?q=1");

  u = parse_url("https://[::1]:8443/a#b");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/a");
  EXPECT_EQ(u->host_header(), "[::1]:8443");
}

TEST(WorkerUrl, RefusesWhatIsNotAPlainHttpUrl) {
  for (const char* bad :
       {"ftp://h/", "http://", "http:///x", "http://h:/", "http://h:0/", "http://h:65536/",
        "http://h:8x/", "http://user:pw@h/", "http://h /x", "http://h/\r\nX: y", "h/x",
        "http://[::1/", "http://[::1]x/", "file:///etc/passwd"})
    EXPECT_FALSE(parse_url(bad)) << bad;
}

TEST(WorkerBody, TheEnvelopeAroundThePayload) {
  auto j = nlohmann::json::parse(delivery_body(sample()));
  EXPECT_EQ(j["id"], "01a2f0c4-0000-7000-8000-000000000001");
  EXPECT_EQ(j["event"], "approval.requested");
  EXPECT_EQ(j["tenant_id"], "01a2f0c4-0000-7000-8000-0000000000aa");
  EXPECT_EQ(j["created_at"], "2026-11-29T20:00:00.123456Z");
  EXPECT_EQ(j["data"], nlohmann::json::parse(R"({"approval_id": "x", "n": 1})"));
  EXPECT_EQ(j.size(), 5u);
  Delivery d = sample();
  d.payload = "[1]";
  EXPECT_THROW(delivery_body(d), std::invalid_argument);
  d.payload = "{";
  EXPECT_THROW(delivery_body(d), std::invalid_argument);
}

TEST(WorkerRequest, HeadersAndBody) {
  Delivery d = sample();
  auto url = parse_url("http://127.0.0.1:9000/in?k=v");
  ASSERT_TRUE(url);
  std::string body = delivery_body(d);
  std::string r = build_request(*url, d, body, 1764446400, "coditect-worker/0.3.0");
  size_t head_end = r.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  std::string head = r.substr(0, head_end + 2);
  EXPECT_EQ(r.substr(head_end + 4), body);
  EXPECT_EQ(head.rfind("POST /in?k=v HTTP/1.1\r\n", 0), 0u);
  for (const std::string& h :
       {std::string("Host: 127.0.0.1:9000"), std::string("Content-Type: application/json"),
        "Content-Length: " + std::to_string(body.size()), "Idempotency-Key: " + d.id,
        std::string("Coditect-Event: approval.requested"),
        "Coditect-Signature: " + coditect::webhook::sign(d.secret, 1764446400, body),
        std::string("Connection: close"), std::string("User-Agent: coditect-worker/0.3.0")})
    EXPECT_NE(head.find("\r\n" + h + "\r\n"), std::string::npos) << h;
}

TEST(WorkerResponse, StatusLine) {
  EXPECT_EQ(parse_status_line("HTTP/1.1 200 OK\r\n\r\n"), 200);
  EXPECT_EQ(parse_status_line("HTTP/1.0 500 Internal Server Error\r\nX: y\r\n"), 500);
  EXPECT_EQ(parse_status_line("HTTP/1.1 204\r\n"), 204);
  EXPECT_FALSE(parse_status_line("HTTP/1.1 200 OK"));  // the line is not complete yet
  EXPECT_FALSE(parse_status_line("HTTP/2 200\r\n"));
  EXPECT_FALSE(parse_status_line("HTTP/1.1 20 OK\r\n"));
  EXPECT_FALSE(parse_status_line("HTTP/1.1 2000 OK\r\n"));
  EXPECT_FALSE(parse_status_line("HTTP/1.1 099 X\r\n"));
  EXPECT_FALSE(parse_status_line("HTTP/1.1 600 X\r\n"));
  EXPECT_FALSE(parse_status_line("SSH-2.0-OpenSSH\r\n"));
  EXPECT_FALSE(parse_status_line(""));
}

TEST(WorkerBackoff, ExponentialCappedJittered) {
  // No jitter (random 1.0 is the top of the range): base * 2^(n-1).
  EXPECT_DOUBLE_EQ(backoff_seconds(1, 10, 3600, 1.0), 10);
  EXPECT_DOUBLE_EQ(backoff_seconds(2, 10, 3600, 1.0), 20);
  EXPECT_DOUBLE_EQ(backoff_seconds(5, 10, 3600, 1.0), 160);
  // The bottom of the range is half of it.
  EXPECT_DOUBLE_EQ(backoff_seconds(5, 10, 3600, 0.0), 80);
  EXPECT_DOUBLE_EQ(backoff_seconds(5, 10, 3600, 0.5), 120);
  // Capped, however many attempts.
  EXPECT_DOUBLE_EQ(backoff_seconds(20, 10, 3600, 1.0), 3600);
  EXPECT_DOUBLE_EQ(backoff_seconds(100000, 10, 3600, 1.0), 3600);
  EXPECT_DOUBLE_EQ(backoff_seconds(100000, 10, 3600, 0.0), 1800);
  // Nonsense in, sane out.
  EXPECT_DOUBLE_EQ(backoff_seconds(0, 10, 3600, 1.0), 10);
  EXPECT_DOUBLE_EQ(backoff_seconds(1, 10, 3600, 7.0), 10);
  EXPECT_DOUBLE_EQ(backoff_seconds(1, 10, 3600, -1.0), 5);
  for (int n = 1; n < 30; ++n)
    EXPECT_LE(backoff_seconds(n, 10, 3600, 0.3), backoff_seconds(n + 1, 10, 3600, 0.3));
}

TEST(WorkerBody, FieldsInTheDocumentedOrder) {
  Delivery d = sample();
  d.payload = R"({"z": 1, "a": 2})";
  EXPECT_EQ(delivery_body(d),
            R"({"id":"01a2f0c4-0000-7000-8000-000000000001","event":"approval.requested",)"
            R"("tenant_id":"01a2f0c4-0000-7000-8000-0000000000aa",)"
            R"("created_at":"2026-11-29T20:00:00.123456Z","data":{"z":1,"a":2}})");
}

namespace {

bool private_address(const std::string& ip) {
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, ip.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else if (inet_pton(AF_INET6, ip.c_str(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) ==
             1) {
    ss.ss_family = AF_INET6;
  } else {
    ADD_FAILURE() << "not an address: " << ip;
  }
  return is_private_address(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace

TEST(WorkerAddresses, TheInsideIsRefusedTheInternetIsNot) {
  for (const char* ip :
       {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "::", "fc00::1", "fd12:3456::1",
        "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"})
    EXPECT_TRUE(private_address(ip)) << ip;
  for (const char* ip : {"93.184.216.34", "8.8.8.8", "172.32.0.1", "172.15.255.255", "100.128.0.1",
                         "192.169.0.1", "2606:2800:220:1::1", "::ffff:8.8.8.8", "fec0::1"})
    EXPECT_FALSE(private_address(ip)) << ip;
}
