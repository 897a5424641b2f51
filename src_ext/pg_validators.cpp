// Small validators used in CHECK constraints.
#include "pg_guard.hpp"

extern "C" {
#include "pgtime.h"
#include "utils/builtins.h"
}

// coditect.is_valid_timezone(text): a name PostgreSQL's time zone database knows.
CODITECT_FUNCTION(coditect_is_valid_timezone) {
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  bool valid = name[0] != '\0' && pg_tzset(name) != nullptr;
  pfree(name);
  PG_RETURN_BOOL(valid);
}
