// Integration tests of uploads (tus 1.0: core, creation, checksum) and downloads (Range) over
// real HTTP, against the gateway and database that scripts/test.sh starts. Fixtures are made as
// superuser; tokens are minted here. Without the CODITECT_IT_* variables every test is skipped.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "it_support.hpp"
#include "jwt_auth.hpp"

using coditect::it::HttpResult;
using nlohmann::json;

namespace {

using coditect::it::env;
using coditect::it::Headers;

std::string base64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string sha256_raw(const std::string& data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  return std::string(reinterpret_cast<char*>(d), sizeof d);
}

std::string hex(const std::string& raw) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

struct StorageWorld : coditect::it::Target {
  bool ready = false;
  std::string tenant_a, owner_a, member_a, tenant_b, owner_b;

  void setup() {
    if (!connect()) return;
    std::string suffix = std::to_string(std::random_device{}() % 1000000000);
    // A: professional (100 MiB files); B: trial (10 MiB).
    json a =
        json::parse(sql("SELECT coditect.create_tenant('Storage A', $1, 'sa@it.test', "
                        "'owner-sa@it.test', NULL, 'professional')",
                        {"it-sa-" + suffix}));
    json b =
        json::parse(sql("SELECT coditect.create_tenant('Storage B', $1, 'sb@it.test', "
                        "'owner-sb@it.test', NULL, 'trial')",
                        {"it-sb-" + suffix}));
    tenant_a = a["tenant_id"];
    owner_a = a["user_id"];
    tenant_b = b["tenant_id"];
    owner_b = b["user_id"];
    member_a = add_member("member-sa-" + suffix);
    ready = true;
  }

  // A new member of tenant A (user and membership); its id.
  std::string add_member(const std::string& name) {
    std::string id =
        sql("INSERT INTO coditect.users (tenant_id, email, role) VALUES ($1, $2, 'member') "
            "RETURNING id",
            {tenant_a, name + "@it.test"});
    sql("INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES ($1, $2, 'member') "
        "RETURNING id",
        {tenant_a, id});
    return id;
  }

  std::string token(const std::string& sub, const std::string& tenant, const std::string& role) {
    return "Bearer " + Target::token(sub, tenant, role);
  }

  // A request with raw headers (no Content-Type added) and an optional body.
  HttpResult call(const std::string& method, const std::string& target, const std::string& auth,
                  const Headers& headers, const std::string& body = {}) {
    std::string req =
        method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
    if (!auth.empty()) req += "Authorization: " + auth + "\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "PATCH" || method == "POST")
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    return coditect::it::http_raw(host, port, req);
  }
};

StorageWorld& W() {
  static StorageWorld* w = [] {
    auto* x = new StorageWorld();
    try {
      x->setup();
    } catch (const std::exception& e) {
      std::cerr << "storage fixtures failed: " << e.what() << "\n";
      x->ready = false;
    }
    return x;
  }();
  return *w;
}

const Headers kTus = {{"Tus-Resumable", "1.0.0"}};

Headers tus_patch(long long offset, const std::string& data, bool checksum = true) {
  Headers h = {{"Tus-Resumable", "1.0.0"},
               {"Content-Type", "application/offset+octet-stream"},
               {"Upload-Offset", std::to_string(offset)}};
  if (checksum) h.emplace_back("Upload-Checksum", "sha256 " + base64(sha256_raw(data)));
  return h;
}

class StorageIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!W().ready) GTEST_SKIP() << "set the CODITECT_IT_* variables (scripts/test.sh)";
    owner_ = W().token(W().owner_a, W().tenant_a, "owner");
    member_ = W().token(W().member_a, W().tenant_a, "member");
  }

  // POST /api/v1/uploads/: the Location of the new upload ("" when refused).
  std::string create(const std::string& auth, long long length, const std::string& filename,
                     HttpResult* out = nullptr) {
    Headers h = kTus;
    h.emplace_back("Upload-Length", std::to_string(length));
    h.emplace_back("Upload-Metadata", "filename " + base64(filename) + ",filetype " +
                                          base64("application/octet-stream"));
    HttpResult r = W().call("POST", "/api/v1/uploads/", auth, h);
    if (out) *out = r;
    return r.status == 201 ? r.header("location") : std::string();
  }

  long long offset(const std::string& auth, const std::string& location) {
    HttpResult r = W().call("HEAD", location, auth, kTus);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("cache-control"), "no-store");
    return r.header("upload-offset").empty() ? -1 : std::atoll(r.header("upload-offset").c_str());
  }

  // Uploads data whole (in pieces of `piece` bytes); the blob id from the database.
  std::string upload(const std::string& auth, const std::string& data, size_t piece,
                     const std::string& filename) {
    std::string loc = create(auth, static_cast<long long>(data.size()), filename);
    EXPECT_FALSE(loc.empty());
    for (size_t at = 0; at < data.size(); at += piece) {
      std::string part = data.substr(at, piece);
      HttpResult r =
          W().call("PATCH", loc, auth, tus_patch(static_cast<long long>(at), part), part);
      EXPECT_EQ(r.status, 204) << r.body;
    }
    return W().sql("SELECT blob_id::text FROM coditect.upload_sessions WHERE id = $1",
                   {loc.substr(loc.rfind('/') + 1)});
  }

  std::string owner_, member_;
};

TEST_F(StorageIT, OptionsAnnounceTheServer) {
  HttpResult r = W().call("OPTIONS", "/api/v1/uploads/", "", {});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("tus-resumable"), "1.0.0");
  EXPECT_EQ(r.header("tus-version"), "1.0.0");
  EXPECT_EQ(r.header("tus-extension"), "creation,checksum");
  EXPECT_EQ(r.header("tus-checksum-algorithm"), "sha256");
  EXPECT_EQ(r.header("tus-max-size"), "1073741824");
}

// Several chunks; the connection cut in the middle of one; resumed from the offset HEAD gives.
TEST_F(StorageIT, UploadInChunksInterruptedAndResumed) {
  const std::string data = random_bytes(3 * 1048576 + 12345, 1);
  HttpResult created;
  std::string loc = create(member_, static_cast<long long>(data.size()), "report.bin", &created);
  ASSERT_FALSE(loc.empty()) << created.status << " " << created.body;
  EXPECT_EQ(loc.rfind("/api/v1/uploads/", 0), 0u);
  EXPECT_EQ(created.header("tus-resumable"), "1.0.0");
  EXPECT_EQ(offset(member_, loc), 0);

  std::string first = data.substr(0, 1000000);
  HttpResult r = W().call("PATCH", loc, member_, tus_patch(0, first), first);
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(r.header("upload-offset"), "1000000");

  // Interrupted: half of a declared 1,500,000-byte body, then the connection is closed.
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(W().port));
    inet_pton(AF_INET, W().host.c_str(), &addr.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string part = data.substr(1000000, 1500000);
    std::string req =
        "PATCH " + loc + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + member_ +
        "\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
        "Upload-Offset: 1000000\r\nContent-Length: 1500000\r\n\r\n" +
        part.substr(0, 750000);
    size_t sent = 0;
    while (sent < req.size()) {
      ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      sent += static_cast<size_t>(n);
    }
    close(fd);
  }
  // Nothing of the cut request was stored: the upload resumes from where it was.
  long long at = offset(member_, loc);
  EXPECT_EQ(at, 1000000);
  while (at < static_cast<long long>(data.size())) {
    std::string part = data.substr(static_cast<size_t>(at), 1200000);
    r = W().call("PATCH", loc, member_, tus_patch(at, part), part);
    ASSERT_EQ(r.status, 204) << r.body;
    at = std::atoll(r.header("upload-offset").c_str());
  }
  EXPECT_EQ(at, static_cast<long long>(data.size()));
  EXPECT_EQ(offset(member_, loc), static_cast<long long>(data.size()));

  // The blob holds exactly the bytes sent.
  std::string blob = W().sql("SELECT blob_id::text FROM coditect.upload_sessions WHERE id = $1",
                             {loc.substr(loc.rfind('/') + 1)});
  HttpResult d = W().call("GET", "/api/v1/blobs/" + blob + "/content", member_, {});
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.body.size(), data.size());
  EXPECT_TRUE(d.body == data);
  EXPECT_EQ(d.header("etag"), "\"" + hex(sha256_raw(data)) + "\"");
}

// curl and others wait for "100 Continue" before sending a large body.
TEST_F(StorageIT, ExpectContinueIsAnswered) {
  std::string data = random_bytes(2000, 5);
  std::string loc = create(member_, static_cast<long long>(data.size()), "e.bin");
  ASSERT_FALSE(loc.empty());
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(W().port));
  inet_pton(AF_INET, W().host.c_str(), &addr.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string head = "PATCH " + loc +
                     " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + member_ +
                     "\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
                     "Upload-Offset: 0\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n";
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u);
  ASSERT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
  std::string rest;
  // The answer is a 204: its head is all of it.
  while (rest.find("\r\n\r\n") == std::string::npos && (n = recv(fd, buf, sizeof buf, 0)) > 0)
    rest.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_EQ(rest.rfind("HTTP/1.1 204", 0), 0u) << rest;
  EXPECT_EQ(offset(member_, loc), 2000);
}

TEST_F(StorageIT, RefusalsOfTheProtocol) {
  std::string loc = create(member_, 100, "p.bin");
  ASSERT_FALSE(loc.empty());
  std::string data(50, 'x');
  // Without Tus-Resumable: 412 with the version served.
  HttpResult r =
      W().call("PATCH", loc, member_,
               {{"Content-Type", "application/offset+octet-stream"}, {"Upload-Offset", "0"}}, data);
  EXPECT_EQ(r.status, 412);
  EXPECT_EQ(r.header("tus-version"), "1.0.0");
  // Another content type: 415.
  r = W().call(
      "PATCH", loc, member_,
      {{"Tus-Resumable", "1.0.0"}, {"Content-Type", "application/json"}, {"Upload-Offset", "0"}},
      data);
  EXPECT_EQ(r.status, 415);
  // The wrong offset: 409, nothing stored.
  r = W().call("PATCH", loc, member_, tus_patch(10, data), data);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(json::parse(r.body)["code"], "CD409");
  // A malformed Upload-Offset, an unsupported checksum algorithm: 400.
  Headers h = tus_patch(0, data, false);
  h[2].second = "zero";
  EXPECT_EQ(W().call("PATCH", loc, member_, h, data).status, 400);
  h = tus_patch(0, data, false);
  h.emplace_back("Upload-Checksum", "md5 " + base64(std::string(16, 'a')));
  EXPECT_EQ(W().call("PATCH", loc, member_, h, data).status, 400);
  // Past the declared length: 413.
  std::string too_much(101, 'y');
  EXPECT_EQ(W().call("PATCH", loc, member_, tus_patch(0, too_much), too_much).status, 413);
  EXPECT_EQ(offset(member_, loc), 0);
  // No token: 401; an unknown upload: 404.
  EXPECT_EQ(W().call("HEAD", loc, "", kTus).status, 401);
  EXPECT_EQ(W().call("HEAD", "/api/v1/uploads/0190aaaa-0000-7000-8000-000000000001", member_, kTus)
                .status,
            404);
}

TEST_F(StorageIT, ChecksumMismatchIsRefusedAndLosesNothing) {
  std::string data = random_bytes(200000, 2);
  std::string loc = create(member_, static_cast<long long>(data.size()), "c.bin");
  ASSERT_FALSE(loc.empty());
  std::string first = data.substr(0, 100000), second = data.substr(100000);
  ASSERT_EQ(W().call("PATCH", loc, member_, tus_patch(0, first), first).status, 204);
  Headers wrong = tus_patch(100000, second, false);
  wrong.emplace_back("Upload-Checksum", "sha256 " + base64(sha256_raw(first)));
  HttpResult r = W().call("PATCH", loc, member_, wrong, second);
  EXPECT_EQ(r.status, 460) << r.body;
  EXPECT_EQ(json::parse(r.body)["code"], "CD460");
  EXPECT_EQ(r.header("tus-resumable"), "1.0.0");
  EXPECT_EQ(offset(member_, loc), 100000);
  r = W().call("PATCH", loc, member_, tus_patch(100000, second), second);
  EXPECT_EQ(r.status, 204) << r.body;
  std::string blob = W().sql("SELECT blob_id::text FROM coditect.upload_sessions WHERE id = $1",
                             {loc.substr(loc.rfind('/') + 1)});
  HttpResult d = W().call("GET", "/api/v1/blobs/" + blob + "/content", member_, {});
  EXPECT_TRUE(d.body == data);
}

TEST_F(StorageIT, OverTheLimitIs413) {
  std::string trial = W().token(W().owner_b, W().tenant_b, "owner");
  HttpResult r;
  EXPECT_TRUE(create(trial, 10485760 + 1, "big.bin", &r).empty());
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(json::parse(r.body)["code"], "CD413");
  EXPECT_FALSE(create(trial, 10485760, "fits.bin").empty());
  EXPECT_TRUE(create(owner_, 104857600 + 1, "big.bin", &r).empty());
  EXPECT_EQ(r.status, 413);
  // A PATCH body over the gateway's upload chunk limit is refused before it is read.
  std::string loc = create(owner_, 104857600, "chunky.bin");
  ASSERT_FALSE(loc.empty());
  std::string req = "PATCH " + loc +
                    " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + owner_ +
                    "\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
                    "Upload-Offset: 0\r\nContent-Length: 104857600\r\n\r\n";
  EXPECT_EQ(coditect::it::http_raw(W().host, W().port, req).status, 413);
}

TEST_F(StorageIT, DownloadWholeAndRanges) {
  std::string data = random_bytes(2 * 1048576 + 777, 3);
  std::string blob = upload(member_, data, 1048576 + 1000, "plan v2.pdf");
  ASSERT_FALSE(blob.empty());
  std::string path = "/api/v1/blobs/" + blob + "/content";
  HttpResult d = W().call("GET", path, member_, {});
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.header("content-length"), std::to_string(data.size()));
  EXPECT_EQ(d.header("content-type"), "application/octet-stream");
  EXPECT_EQ(d.header("content-disposition"),
            "attachment; filename=\"plan v2.pdf\"; filename*=UTF-8''plan%20v2.pdf");
  EXPECT_EQ(d.header("etag"), "\"" + hex(sha256_raw(data)) + "\"");
  EXPECT_EQ(d.header("accept-ranges"), "bytes");
  EXPECT_TRUE(d.body == data);

  // A range across a chunk boundary.
  d = W().call("GET", path, member_, {{"Range", "bytes=1048000-1049999"}});
  EXPECT_EQ(d.status, 206);
  EXPECT_EQ(d.header("content-range"), "bytes 1048000-1049999/" + std::to_string(data.size()));
  EXPECT_EQ(d.header("content-length"), "2000");
  EXPECT_TRUE(d.body == data.substr(1048000, 2000));
  d = W().call("GET", path, member_, {{"Range", "bytes=-100"}});
  EXPECT_EQ(d.status, 206);
  EXPECT_TRUE(d.body == data.substr(data.size() - 100));
  d = W().call("GET", path, member_, {{"Range", "bytes=" + std::to_string(data.size()) + "-"}});
  EXPECT_EQ(d.status, 416);
  EXPECT_EQ(d.header("content-range"), "bytes */" + std::to_string(data.size()));
  // HEAD: the head alone.
  d = W().call("HEAD", path, member_, {});
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.header("content-length"), std::to_string(data.size()));
  EXPECT_TRUE(d.body.empty());
  // Another member did not upload it: 404; the owner reads every blob of the tenant.
  std::string other = W().add_member("m2-" + blob);
  EXPECT_EQ(W().call("GET", path, W().token(other, W().tenant_a, "member"), {}).status, 404);
  EXPECT_EQ(W().call("GET", path, owner_, {}).status, 200);
}

TEST_F(StorageIT, AnotherTenantsUploadsAndBlobsAre404) {
  std::string data = random_bytes(5000, 4);
  std::string loc = create(member_, static_cast<long long>(data.size()), "mine.bin");
  ASSERT_FALSE(loc.empty());
  std::string blob = upload(member_, data, 5000, "mine2.bin");
  std::string b = W().token(W().owner_b, W().tenant_b, "owner");
  EXPECT_EQ(W().call("HEAD", loc, b, kTus).status, 404);
  HttpResult r = W().call("PATCH", loc, b, tus_patch(0, data), data);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["code"], "CD404");
  EXPECT_EQ(W().call("GET", "/api/v1/blobs/" + blob + "/content", b, {}).status, 404);
  EXPECT_EQ(offset(member_, loc), 0);
  // The same bytes in tenant B: a blob of B's own, not A's.
  std::string blob_b = upload(b, data, 5000, "theirs.bin");
  EXPECT_NE(blob_b, blob);
  EXPECT_EQ(W().call("GET", "/api/v1/blobs/" + blob_b + "/content", member_, {}).status, 404);
}

// Uploads with target_kind "document": a new document, then the same file name again is its
// next version; its content (whole, a version, a range), its access, and 404 for whoever may not
// see it (another member without a grant, another tenant).
TEST_F(StorageIT, UploadsMakeDocumentsAndVersions) {
  std::string name = "spec-" + std::to_string(std::random_device{}() % 1000000) + ".md";
  auto upload_doc = [&](const std::string& data) {
    Headers h = kTus;
    h.emplace_back("Upload-Length", std::to_string(data.size()));
    h.emplace_back("Upload-Metadata", "filename " + base64(name) + ",filetype " +
                                          base64("text/markdown") + ",target_kind " +
                                          base64("document"));
    HttpResult c = W().call("POST", "/api/v1/uploads/", member_, h);
    EXPECT_EQ(c.status, 201) << c.body;
    std::string loc = c.header("location");
    size_t half = data.size() / 2;
    EXPECT_EQ(
        W().call("PATCH", loc, member_, tus_patch(0, data.substr(0, half)), data.substr(0, half))
            .status,
        204);
    HttpResult last =
        W().call("PATCH", loc, member_, tus_patch(static_cast<long long>(half), data.substr(half)),
                 data.substr(half));
    EXPECT_EQ(last.status, 204) << last.body;
  };
  std::string v1 = random_bytes(3000, 31),
              v2 = random_bytes(5000, 32);  // bytes of their own (no dedup)
  upload_doc(v1);
  std::string doc =
      W().sql("SELECT id::text FROM coditect.documents WHERE tenant_id = $1 AND file_name = $2",
              {W().tenant_a, name});
  ASSERT_FALSE(doc.empty()) << "the upload made no document";
  upload_doc(v2);
  EXPECT_EQ(W().sql("SELECT version::text FROM coditect.documents WHERE id = $1", {doc}), "2");

  std::string path = "/api/v1/documents/" + doc + "/content";
  HttpResult d = W().call("GET", path, member_, {});
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.header("content-type"), "text/markdown");
  EXPECT_EQ(d.header("etag"), "\"" + hex(sha256_raw(v2)) + "\"");
  EXPECT_TRUE(d.body == v2);
  d = W().call("GET", path + "?version=1", member_, {});
  EXPECT_EQ(d.status, 200);
  EXPECT_TRUE(d.body == v1);
  d = W().call("GET", path + "?version=1", member_, {{"Range", "bytes=100-199"}});
  EXPECT_EQ(d.status, 206);
  EXPECT_TRUE(d.body == v1.substr(100, 100));
  EXPECT_EQ(W().call("GET", path + "?version=3", member_, {}).status, 404);

  HttpResult a = W().call("GET", "/api/v1/documents/" + doc + "/access/", member_, {});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(json::parse(a.body)["level"], "admin");
  EXPECT_EQ(json::parse(a.body)["source"], "owner");
  HttpResult versions = W().call("GET", "/api/v1/documents/" + doc + "/versions/", member_, {});
  ASSERT_EQ(versions.status, 200) << versions.body;
  EXPECT_EQ(json::parse(versions.body)["count"], 2);

  // Private by default: another member sees nothing of it; the owner of the tenant sees it.
  std::string other = W().add_member("doc-" + doc);
  std::string other_token = W().token(other, W().tenant_a, "member");
  EXPECT_EQ(W().call("GET", "/api/v1/documents/" + doc + "/", other_token, {}).status, 404);
  EXPECT_EQ(W().call("GET", path, other_token, {}).status, 404);
  EXPECT_EQ(W().call("GET", path, owner_, {}).status, 200);
  // A grant of view to the other member: now it reads the document and its file.
  HttpResult g = W().call(
      "POST", "/api/v1/document-permissions/", member_, {{"Content-Type", "application/json"}},
      json{{"document_id", doc}, {"user_id", other}, {"permission_level", "view"}}.dump());
  EXPECT_EQ(g.status, 201) << g.body;
  EXPECT_EQ(W().call("GET", path, other_token, {}).status, 200);
  // Another tenant: 404.
  std::string b = W().token(W().owner_b, W().tenant_b, "owner");
  EXPECT_EQ(W().call("GET", "/api/v1/documents/" + doc + "/", b, {}).status, 404);
  EXPECT_EQ(W().call("GET", path, b, {}).status, 404);
}

// Shares (sql/44_document_shares.sql): a document uploaded by a member, its public links.
class ShareIT : public StorageIT {
 protected:
  // Uploads data as a new document (target_kind document); its id.
  std::string document(const std::string& data, const std::string& filename) {
    Headers h = kTus;
    h.emplace_back("Upload-Length", std::to_string(data.size()));
    h.emplace_back("Upload-Metadata", "filename " + base64(filename) + ",filetype " +
                                          base64("application/pdf") + ",target_kind " +
                                          base64("document"));
    h.emplace_back("User-Agent", "it-uploader/1");
    HttpResult c = W().call("POST", "/api/v1/uploads/", member_, h);
    EXPECT_EQ(c.status, 201) << c.body;
    std::string loc = c.header("location");
    Headers patch = tus_patch(0, data);
    patch.emplace_back("User-Agent", "it-uploader/1");  // the request that completes the upload
    HttpResult r = W().call("PATCH", loc, member_, patch, data);
    EXPECT_EQ(r.status, 204) << r.body;
    return W().sql(
        "SELECT v.document_id::text FROM coditect.document_versions v JOIN "
        "coditect.upload_sessions "
        "u ON u.tenant_id = v.tenant_id AND u.blob_id = v.blob_id WHERE u.id = $1",
        {loc.substr(loc.rfind('/') + 1)});
  }
  // POST .../shares/ as the member: the answer.
  json share(const std::string& doc, const json& body) {
    HttpResult r = W().call("POST", "/api/v1/documents/" + doc + "/shares/", member_,
                            {{"Content-Type", "application/json"}}, body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  // The 404 body without its instance (the request's path, which differs per token).
  static json without_instance(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_object()) j.erase("instance");
    return j;
  }
};

TEST_F(ShareIT, PasswordExpiredRevokedAndUnknownAreTheSame404) {
  std::string data = random_bytes(3000, 11);
  std::string doc = document(data, "share-404.pdf");
  ASSERT_FALSE(doc.empty());
  json pw = share(doc, {{"permission_level", "download"}, {"password", "correct horse"}});
  json expired = share(doc, {{"permission_level", "view"}});
  json revoked = share(doc, {{"permission_level", "download"}});
  std::string pw_path = pw["path"];
  EXPECT_EQ(pw_path, "/s/" + pw["token"].get<std::string>() + "/");
  // Right password (a header, not the query): the document.
  HttpResult ok = W().call("GET", pw_path, "", {{"X-Share-Password", "correct horse"}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["file_name"], "share-404.pdf");
  EXPECT_EQ(json::parse(ok.body)["content_path"], pw_path + "content");

  // Expired by hand, past the trigger that keeps shares unchanged. On Citus, trigger DDL on a
  // distributed table needs citus.enable_unsafe_triggers (a mere placeholder on one node).
  W().sql("SET citus.enable_unsafe_triggers = on");
  W().sql("ALTER TABLE coditect.document_shares DISABLE TRIGGER document_share_rules");
  W().sql(
      "UPDATE coditect.document_shares SET expires_at = now() - interval '1 second' WHERE id = "
      "$1 RETURNING id",
      {expired["share"]["id"].get<std::string>()});
  W().sql("ALTER TABLE coditect.document_shares ENABLE ALWAYS TRIGGER document_share_rules");
  W().sql("RESET citus.enable_unsafe_triggers");
  HttpResult rv = W().call("POST",
                           "/api/v1/documents/" + doc + "/shares/" +
                               revoked["share"]["id"].get<std::string>() + "/revoke/",
                           member_, {{"Content-Type", "application/json"}}, "");
  ASSERT_EQ(rv.status, 200) << rv.body;
  EXPECT_EQ(json::parse(rv.body)["is_active"], false);

  std::vector<HttpResult> refused = {
      W().call("GET", pw_path, "", {{"X-Share-Password", "wrong horse"}}),
      W().call("GET", pw_path, "", {}),
      W().call("GET", pw_path + "content", "", {{"X-Share-Password", "wrong horse"}}),
      W().call("GET", expired["path"].get<std::string>(), "", {}),
      W().call("GET", revoked["path"].get<std::string>(), "", {}),
      W().call("GET", revoked["path"].get<std::string>() + "content", "", {}),
      W().call("GET", "/s/" + W().sql("SELECT gen_random_uuid()::text") + "/", "", {})};
  json first = without_instance(refused.back().body);
  EXPECT_EQ(first["status"], 404);
  EXPECT_EQ(first["detail"], "share not found");
  for (const auto& r : refused) {
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_EQ(r.header("content-type"), refused.back().header("content-type"));
    EXPECT_EQ(without_instance(r.body), first) << r.body;
  }
  // Three wrong passwords so far were counted; the right one still opens it and resets them.
  EXPECT_EQ(W().sql("SELECT failed_attempts::text FROM coditect.document_shares WHERE id = $1",
                    {pw["share"]["id"].get<std::string>()}),
            "3");
  EXPECT_EQ(W().call("GET", pw_path, "", {{"X-Share-Password", "correct horse"}}).status, 200);
  // A malformed token is a 400 about the path, which says nothing about any share.
  EXPECT_EQ(W().call("GET", "/s/not-a-token/", "", {}).status, 400);
}

TEST_F(ShareIT, DownloadThroughAShareWithAndWithoutRange) {
  std::string data = random_bytes(1048576 + 5000, 12);
  std::string doc = document(data, "share-dl.pdf");
  ASSERT_FALSE(doc.empty());
  json dl = share(doc, {{"permission_level", "download"}});
  json view = share(doc, {{"permission_level", "view"}});
  std::string content = dl["path"].get<std::string>() + "content";
  HttpResult d = W().call("GET", content, "", {{"User-Agent", "it-downloader/1"}});
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_TRUE(d.body == data);
  EXPECT_EQ(d.header("etag"), "\"" + hex(sha256_raw(data)) + "\"");
  EXPECT_EQ(d.header("content-type"), "application/pdf");
  d = W().call("GET", content, "", {{"Range", "bytes=1048000-1049999"}});
  EXPECT_EQ(d.status, 206);
  EXPECT_EQ(d.header("content-range"), "bytes 1048000-1049999/" + std::to_string(data.size()));
  EXPECT_TRUE(d.body == data.substr(1048000, 2000));
  // A view share shows the document but has no content.
  HttpResult v = W().call("GET", view["path"].get<std::string>(), "", {});
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_TRUE(json::parse(v.body)["content_path"].is_null());
  EXPECT_EQ(W().call("GET", view["path"].get<std::string>() + "content", "", {}).status, 404);
  // Counted: two downloads; recorded with the client's user agent and no user.
  EXPECT_EQ(W().sql("SELECT access_count::text FROM coditect.document_shares WHERE id = $1",
                    {dl["share"]["id"].get<std::string>()}),
            "2");
  EXPECT_EQ(W().sql("SELECT count(*)::text FROM coditect.document_activity WHERE share_id = $1 AND "
                    "action = 'downloaded' AND user_id IS NULL AND user_agent = 'it-downloader/1' "
                    "AND ip_address = '127.0.0.1'",
                    {dl["share"]["id"].get<std::string>()}),
            "1");
}

TEST_F(ShareIT, AnotherTenantsSharesAre404) {
  std::string data = random_bytes(2000, 13);
  std::string doc = document(data, "share-tenant.pdf");
  json s = share(doc, {{"permission_level", "view"}});
  std::string b = W().token(W().owner_b, W().tenant_b, "owner");
  std::string id = s["share"]["id"];
  EXPECT_EQ(W().call("GET", "/api/v1/documents/" + doc + "/shares/", b, {}).status, 404);
  EXPECT_EQ(W().call("GET", "/api/v1/documents/" + doc + "/shares/" + id + "/", b, {}).status, 404);
  EXPECT_EQ(W().call("POST", "/api/v1/documents/" + doc + "/shares/" + id + "/revoke/", b,
                     {{"Content-Type", "application/json"}}, "")
                .status,
            404);
  EXPECT_EQ(W().call("POST", "/api/v1/documents/" + doc + "/shares/", b,
                     {{"Content-Type", "application/json"}}, "{}")
                .status,
            404);
  // Still working for everyone else.
  EXPECT_EQ(W().call("GET", s["path"].get<std::string>(), "", {}).status, 200);
}

TEST_F(ShareIT, DocumentActivityOverHttp) {
  std::string data = random_bytes(1500, 14);
  std::string doc = document(data, "share-activity.pdf");
  HttpResult g =
      W().call("GET", "/api/v1/documents/" + doc + "/", member_, {{"User-Agent", "it-reader/2"}});
  ASSERT_EQ(g.status, 200) << g.body;
  HttpResult d = W().call("GET", "/api/v1/documents/" + doc + "/content", member_,
                          {{"User-Agent", "it-reader/2"}});
  ASSERT_EQ(d.status, 200);
  // The download's activity commits with its read transaction, just after the last byte went
  // out: wait for it (bounded) before the edit, so that the order below is the requests' order.
  for (int i = 0; i < 100; ++i) {
    HttpResult seen =
        W().call("GET", "/api/v1/documents/" + doc + "/activity/?action=downloaded", member_, {});
    if (seen.status == 200 && !json::parse(seen.body)["results"].empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  HttpResult p = W().call("PATCH", "/api/v1/documents/" + doc + "/", member_,
                          {{"Content-Type", "application/json"}, {"User-Agent", "it-editor/3"}},
                          R"({"title": "Activity"})");
  ASSERT_EQ(p.status, 200) << p.body;
  HttpResult a = W().call("GET", "/api/v1/documents/" + doc + "/activity/", member_, {});
  ASSERT_EQ(a.status, 200) << a.body;
  json list = json::parse(a.body);
  std::vector<std::string> got;
  for (const auto& e : list["results"])
    got.push_back(e["action"].get<std::string>() + " " + e["user_agent"].get<std::string>() + " " +
                  e["ip_address"].get<std::string>() + " " +
                  (e["user_id"] == W().member_a ? "member" : "?"));
  EXPECT_EQ(got,
            (std::vector<std::string>{
                "edited it-editor/3 127.0.0.1 member", "downloaded it-reader/2 127.0.0.1 member",
                "viewed it-reader/2 127.0.0.1 member", "uploaded it-uploader/1 127.0.0.1 member"}));
  EXPECT_TRUE(list["count"].is_null());  // keyset pages
  EXPECT_EQ(
      W().call("GET", "/api/v1/documents/" + doc + "/activity/?action=viewed", member_, {}).status,
      200);
  std::string b = W().token(W().owner_b, W().tenant_b, "owner");
  EXPECT_EQ(W().call("GET", "/api/v1/documents/" + doc + "/activity/", b, {}).status, 404);
}

}  // namespace
