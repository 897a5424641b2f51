// coditect_internal.compliance_report_pdf(jsonb): the PDF of a compliance report's report_data
// (compliance_pdf.cpp). Called by coditect.generate_compliance_report inside a subtransaction, so
// that any failure here leaves a "failed" report with its error.
#include "compliance_pdf.hpp"
#include "pg_guard.hpp"

extern "C" {
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
}

#include <string>

namespace {

// Plain C, run under pg_call: the palloc'd bytea of the rendered bytes.
bytea* make_bytea(const char* data, size_t size) {
  auto* out = static_cast<bytea*>(palloc(VARHDRSZ + size));
  SET_VARSIZE(out, VARHDRSZ + size);
  memcpy(VARDATA(out), data, size);
  return out;
}

}  // namespace

CODITECT_FUNCTION(coditect_compliance_report_pdf) {
  // Before any C++ object exists: no guard needed.
  const char* text = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(0)));
  coditect::pg::fail_point("compliance_pdf");
  const coditect::compliance::RenderedPdf pdf = coditect::compliance::render_report_pdf(text);
  bytea* out = coditect::pg::pg_call(make_bytea, pdf.bytes.data(), pdf.bytes.size());
  PG_RETURN_BYTEA_P(out);
}
