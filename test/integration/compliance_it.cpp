// Integration tests of compliance reports over real HTTP (issue 11): a report generated through
// the API from seeded audit rows, its PDF downloaded and rendered to PNG by pdftoppm, its pages
// counted; generation refused to members. Against the gateway and database that scripts/test.sh
// starts; without the CODITECT_IT_* variables every test is skipped.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "it_support.hpp"

using coditect::it::HttpResult;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

struct ComplianceWorld : coditect::it::Target {
  bool ready = false;
  std::string tenant, owner, member;

  void setup() {
    if (!connect()) return;
    auto ids = new_tenant("Compliance A");
    tenant = ids.tenant;
    owner = ids.owner;
    member = add_member(tenant, "member");
    // Audit rows of a past week (the trail's writers are the extension's; tests write it as
    // the superuser): two grants, a deletion, a refused and a failed request.
    sql("INSERT INTO coditect.audit_logs (tenant_id, user_id, action, resource_type, severity, "
        "created_at) SELECT $1, $2, a, split_part(a, '.', 1), s, t::timestamptz FROM (VALUES "
        "('permission.grant', 'info', '2026-02-02 10:00Z'), "
        "('permission.grant', 'info', '2026-02-03 10:00Z'), "
        "('document.delete', 'warning', '2026-02-04 10:00Z'), "
        "('request.refused', 'warning', '2026-02-05 10:00Z'), "
        "('request.failed', 'error', '2026-02-06 10:00Z')) v(a, s, t) RETURNING 1",
        {tenant, owner});
    ready = true;
  }
};

ComplianceWorld& W() {
  static ComplianceWorld* w = [] {
    auto* x = new ComplianceWorld();
    try {
      x->setup();
    } catch (const std::exception& e) {
      std::cerr << "compliance fixtures failed: " << e.what() << "\n";
      x->ready = false;
    }
    return x;
  }();
  return *w;
}

std::string run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(pclose(p), 0) << command;
  return out;
}

class ComplianceIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!W().ready) GTEST_SKIP() << "set the CODITECT_IT_* variables (scripts/test.sh)";
    owner_ = W().token(W().owner, W().tenant, "owner");
    member_ = W().token(W().member, W().tenant, "member");
  }
  std::string owner_, member_;
};

TEST_F(ComplianceIT, GenerateDownloadAndRenderThePdf) {
  const json body = {
      {"report_type", "soc2"}, {"period_start", "2026-02-01"}, {"period_end", "2026-02-07"}};
  HttpResult g = W().call("POST", "/api/v1/compliance-reports/generate/", owner_, body.dump());
  ASSERT_EQ(g.status, 201) << g.body;
  json report = json::parse(g.body);
  ASSERT_EQ(report["status"], "completed") << g.body;
  const std::string id = report["id"];
  const json& data = report["report_data"];
  EXPECT_EQ(data["totals"]["events"], 5);
  ASSERT_EQ(data["sections"].size(), 5u);
  EXPECT_EQ(data["sections"][0]["key"], "access_changes");
  EXPECT_EQ(data["sections"][0]["count"], 2);
  EXPECT_EQ(data["sections"][3]["key"], "deletions");
  EXPECT_EQ(data["sections"][3]["count"], 1);
  EXPECT_EQ(data["sections"][4]["key"], "failures");
  EXPECT_EQ(data["sections"][4]["count"], 2);
  EXPECT_EQ(data["activity"].size(), 7u);
  EXPECT_EQ(report["file_path"], "/api/v1/compliance-reports/" + id + "/pdf");

  HttpResult got = W().call("GET", "/api/v1/compliance-reports/" + id + "/", owner_);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(json::parse(got.body)["status"], "completed");

  HttpResult pdf = W().call("GET", report["file_path"].get<std::string>(), owner_);
  ASSERT_EQ(pdf.status, 200) << pdf.body;
  EXPECT_EQ(pdf.header("content-type"), "application/pdf");
  EXPECT_EQ(pdf.header("content-length"), std::to_string(pdf.body.size()));
  ASSERT_EQ(pdf.body.rfind("%PDF-", 0), 0u);

  std::string dir_template = (fs::temp_directory_path() / "compliance_it_XXXXXX").string();
  ASSERT_NE(mkdtemp(dir_template.data()), nullptr);
  const fs::path dir = dir_template;
  std::ofstream(dir / "report.pdf", std::ios::binary) << pdf.body;
  std::smatch m;
  const std::string info = run("pdfinfo '" + (dir / "report.pdf").string() + "'");
  ASSERT_TRUE(std::regex_search(info, m, std::regex(R"(Pages:\s+(\d+))"))) << info;
  // The title page, then one page per section.
  EXPECT_EQ(std::stoi(m[1]), 6);
  run("pdftoppm -png -r 30 '" + (dir / "report.pdf").string() + "' '" + (dir / "page").string() +
      "'");
  int pngs = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".png" && fs::file_size(e.path()) > 0) ++pngs;
  }
  EXPECT_EQ(pngs, 6);
  fs::remove_all(dir);
}

TEST_F(ComplianceIT, MembersGenerateAndReadNoReports) {
  const json body = {
      {"report_type", "gdpr"}, {"period_start", "2026-02-01"}, {"period_end", "2026-02-07"}};
  EXPECT_EQ(W().call("POST", "/api/v1/compliance-reports/generate/", member_, body.dump()).status,
            403);
  EXPECT_EQ(W().call("GET", "/api/v1/compliance-reports/", member_).status, 403);
  const json bad = {
      {"report_type", "pci"}, {"period_start", "2026-02-01"}, {"period_end", "2026-02-07"}};
  EXPECT_EQ(W().call("POST", "/api/v1/compliance-reports/generate/", owner_, bad.dump()).status,
            400);
}

}  // namespace
