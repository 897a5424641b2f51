// coditect.uuid_generate_v7() and coditect.uuid_v7_time(uuid).
#include "pg_guard.hpp"
#include "uuid7.hpp"

extern "C" {
#include "common/pg_prng.h"
#include "port.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include <sys/time.h>

namespace {
coditect::Uuid7Generator g_generator;
}

CODITECT_FUNCTION(coditect_uuid_generate_v7) {
  std::uint8_t random[coditect::Uuid7Generator::kRandomBytes];
  if (!pg_strong_random(random, sizeof random)) {
    throw coditect::pg::UserError(ERRCODE_INTERNAL_ERROR, "could not generate random bytes");
  }
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  std::uint64_t ms = static_cast<std::uint64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
  coditect::UuidBytes bytes = g_generator.next(ms, random);
  auto* result = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t)));
  memcpy(result->data, bytes.data(), UUID_LEN);
  PG_RETURN_UUID_P(result);
}

// The creation time a UUIDv7 carries; NULL for other versions.
CODITECT_FUNCTION(coditect_uuid_v7_time) {
  pg_uuid_t* u = PG_GETARG_UUID_P(0);
  coditect::UuidBytes bytes;
  memcpy(bytes.data(), u->data, UUID_LEN);
  if (coditect::uuid_version(bytes) != 7) PG_RETURN_NULL();
  auto ms = static_cast<int64>(coditect::uuid7_unix_ms(bytes));
  TimestampTz ts =
      (ms - (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000) * 1000;
  PG_RETURN_TIMESTAMPTZ(ts);
}
