// Unit tests for the compliance report PDF (src_ext/compliance_pdf.hpp): a fixture report is
// rendered, then read back by poppler (pdfinfo, pdftoppm) as a reader would; bad shapes fail
// with the path of the wrong field.
#include "compliance_pdf.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace coditect::compliance {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

json fixture() {
  std::ifstream in(std::string(CODITECT_FIXTURES_DIR) + "/compliance/report.json");
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

// A private directory for one test's files, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "compliance_pdf_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(pclose(p), 0) << command;
  return out;
}

// What poppler makes of the bytes: its page count, and how many PNG pages pdftoppm wrote.
struct Poppler {
  int pages = -1;
  int pngs = 0;
  std::string title;
};

Poppler read_back(const std::string& bytes) {
  TempDir dir;
  const fs::path pdf = dir.path() / "report.pdf";
  std::ofstream(pdf, std::ios::binary) << bytes;
  Poppler out;
  const std::string info = run("pdfinfo '" + pdf.string() + "'");
  std::smatch m;
  if (std::regex_search(info, m, std::regex(R"(Pages:\s+(\d+))"))) out.pages = std::stoi(m[1]);
  if (std::regex_search(info, m, std::regex(R"(Title:\s+([^\n]*))"))) out.title = m[1];
  run("pdftoppm -png -r 30 '" + pdf.string() + "' '" + (dir.path() / "page").string() + "'");
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().extension() == ".png" && fs::file_size(entry.path()) > 0) ++out.pngs;
  }
  return out;
}

TEST(CompliancePdf, RendersTitlePageAndOnePagePerSection) {
  const RenderedPdf pdf = render_report_pdf(fixture().dump());
  ASSERT_EQ(pdf.bytes.rfind("%PDF-", 0), 0u);
  EXPECT_EQ(pdf.pages, 3);
  const Poppler back = read_back(pdf.bytes);
  EXPECT_EQ(back.pages, 3);
  EXPECT_EQ(back.pngs, 3);
  EXPECT_EQ(back.title, "SOC2 compliance report - Acme Zürich");
}

TEST(CompliancePdf, LongSectionsStillFitOnePageEach) {
  json report = fixture();
  json& s = report["sections"][0];
  s["by_action"] = json::array();
  s["rows"] = json::array();
  for (int i = 0; i < 40; ++i) {
    s["by_action"].push_back(
        {{"action", "resource_" + std::to_string(i) + ".delete"}, {"count", i}});
    s["rows"].push_back({{"created_at", "2026-01-02T10:00:00Z"},
                         {"action", "document.delete"},
                         {"user_id", nullptr},
                         {"resource_type", std::string(300, 'x')},
                         {"resource_id", "1"},
                         {"severity", "warning"}});
  }
  report["activity"] = json::array();
  for (int d = 0; d < 366; ++d)
    report["activity"].push_back({{"date", "2026-01-01"}, {"count", d % 7}});
  const RenderedPdf pdf = render_report_pdf(report.dump());
  EXPECT_EQ(pdf.pages, 3);
  const Poppler back = read_back(pdf.bytes);
  EXPECT_EQ(back.pages, 3);
  EXPECT_EQ(back.pngs, 3);
}

TEST(CompliancePdf, NoSectionsIsTheTitlePageOnly) {
  json report = fixture();
  report["sections"] = json::array();
  report["activity"] = json::array();
  const RenderedPdf pdf = render_report_pdf(report.dump());
  EXPECT_EQ(pdf.pages, 1);
  EXPECT_EQ(read_back(pdf.bytes).pngs, 1);
}

std::string shape_error(const json& report) {
  try {
    render_report_pdf(report.dump());
  } catch (const ReportShapeError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CompliancePdf, BadShapesNameTheField) {
  EXPECT_THROW(render_report_pdf("{not json"), ReportShapeError);
  EXPECT_EQ(shape_error(json::array()), "$ must be an object");

  json r = fixture();
  r.erase("sections");
  EXPECT_EQ(shape_error(r), "$.sections is missing");

  r = fixture();
  r["sections"][1]["count"] = "7";
  EXPECT_EQ(shape_error(r), "$.sections[1].count must be a non-negative integer");

  r = fixture();
  r["sections"][0]["by_action"][1] = 3;
  EXPECT_EQ(shape_error(r), "$.sections[0].by_action[1] must be an object");

  r = fixture();
  r["sections"][0]["rows"][0]["action"] = nullptr;
  EXPECT_EQ(shape_error(r), "$.sections[0].rows[0].action must be a string");

  r = fixture();
  r["activity"][2]["count"] = -1;
  EXPECT_EQ(shape_error(r), "$.activity[2].count must be a non-negative integer");

  r = fixture();
  r["tenant"] = "Acme";
  EXPECT_EQ(shape_error(r), "$.tenant must be an object");

  r = fixture();
  r["period"].erase("end");
  EXPECT_EQ(shape_error(r), "$.period.end is missing");
}

}  // namespace
}  // namespace coditect::compliance
