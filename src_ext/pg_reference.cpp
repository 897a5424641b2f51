// Reference data and contacts (sql/60_reference.sql, sql/62_contacts.sql): phone numbers in
// E.164 (phone_number.cpp, libphonenumber) and ICU's currency exponents, which pgTAP compares
// with coditect.currencies so that drift from the installed ICU is caught in the database too.
#include "pg_guard.hpp"
#include "phone_number.hpp"

extern "C" {
#include "utils/builtins.h"
}

#include <unicode/ucurr.h>

#include <string>

namespace {

std::string text_of(const text* t) { return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)); }

constexpr int kInvalid = CODITECT_SQLSTATE('4', '2', '2');

}  // namespace

// coditect.phone_e164(number, region): the number in E.164, or CD422 naming what is wrong.
CODITECT_FUNCTION(coditect_phone_e164) {
  // Detoasting may raise: both arguments before any C++ object exists.
  const text* number_arg = PG_GETARG_TEXT_PP(0);
  const text* region_arg = PG_GETARG_TEXT_PP(1);
  std::string number = text_of(number_arg);
  std::string region = text_of(region_arg);
  auto n = coditect::phone::normalize(number, region);
  if (!n.ok) throw coditect::pg::UserError(kInvalid, n.error.c_str());
  PG_RETURN_TEXT_P(coditect::pg::pg_call(cstring_to_text_with_len, n.e164.data(),
                                         static_cast<int>(n.e164.size())));
}

// coditect.phone_calling_code(region): 44 for GB; NULL for a region libphonenumber does not know.
CODITECT_FUNCTION(coditect_phone_calling_code) {
  const text* region_arg = PG_GETARG_TEXT_PP(0);
  int code = coditect::phone::calling_code_of(text_of(region_arg));
  if (code == 0) PG_RETURN_NULL();
  PG_RETURN_INT32(code);
}

// coditect_internal.icu_currency_exponent(code): ICU's default fraction digits of an ISO 4217
// code (NULL when ICU refuses the code).
CODITECT_FUNCTION(coditect_icu_currency_exponent) {
  const text* code_arg = PG_GETARG_TEXT_PP(0);
  std::string code = text_of(code_arg);
  if (code.size() != 3) PG_RETURN_NULL();
  UChar u[4] = {static_cast<UChar>(code[0]), static_cast<UChar>(code[1]),
                static_cast<UChar>(code[2]), 0};
  UErrorCode status = U_ZERO_ERROR;
  int32_t digits = ucurr_getDefaultFractionDigits(u, &status);
  if (U_FAILURE(status)) PG_RETURN_NULL();
  PG_RETURN_INT32(digits);
}
