// Compliance reports as PDF (issue 11): the report_data of coditect.generate_compliance_report
// (JSON, README "Audit reviews and compliance reports") rendered with libharu. PG-free so that it
// is unit-tested; pg_compliance_pdf.cpp is the SQL glue.
//
// Layout: page 1 is the title page (tenant, report type, period, the summary of the sections and
// a bar chart of the activity per day); then one page per section (its count, the count per
// action and its latest rows). Every table is cut to fit its page, so a report always has
// 1 + sections pages.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace coditect::compliance {

// The input is not a report of the documented shape; what() names the first wrong field by its
// JSON path ("$.sections[1].count must be a number").
class ReportShapeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct RenderedPdf {
  std::string bytes;
  int pages = 0;
};

// Renders report_data (JSON text). Throws ReportShapeError for a bad shape, std::runtime_error
// when libharu fails.
RenderedPdf render_report_pdf(std::string_view report_json);

}  // namespace coditect::compliance
