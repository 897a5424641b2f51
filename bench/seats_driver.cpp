// bench/seats_driver.cpp: the load generator of bench/seats.sh. The same client code drives
// both seat stores, so the comparison is of the stores, not of two different load generators.
//
//   seats_driver load-redis PORT LICENSES_TSV
//       FLUSHALL, then one hash lic:<key> {seats} per license and the set `licenses`.
//   seats_driver run pg|redis [options]
//       N client threads, each with its own connection, run acquire -> heartbeat -> release
//       cycles of one seat for a fixed time after a warm-up; a sampler thread on its own
//       connection counts the sessions held per license every SAMPLE_MS; prints one line
//       `result key=value ...` on stdout.
//
// Options of `run`:
//   --clients N --warmup S --duration S --licenses FILE (TSV: key, tenant id, user id, seats)
//   --hot                 every cycle on the first license of FILE (else a random one per cycle)
//   --pg CONNINFO         client logins (the gateway); --admin CONNINFO: the sampler (superuser)
//   --schema NAME         schema of license_acquire / heartbeat / release (default coditect;
//                         seats_before: the PL/pgSQL versions of bench/seats_before.sql)
//   --redis-port P --ttl S (Redis session TTL, seconds) --sample-ms MS
//
// PostgreSQL, per call, in pipeline mode: Bind/Execute of the prepared
// `set_request_context` and of the call, then Sync, in one write; the two statements run in
// one implicit transaction that commits at the Sync, and the call's result is counted only
// after the Sync's answer, i.e. after the commit (and its WAL flush, if synchronous_commit is
// on). One round trip per call, as for Redis' EVALSHA. A CD409 (no free seat) from acquire is
// a "no seat" outcome; any other error counts as an error.
//
// Redis: the sorted-set semaphore of the seed's design, three Lua scripts (SCRIPT LOAD, then
// EVALSHA): per license a ZSET of session ids scored by the last heartbeat (ms), a HASH
// hardware id -> session id, and per session a HASH {lic, hw} with a TTL.
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct License {
  std::string key, tenant, user;
  int seats = 0;
};

enum Phase : int { kInit = 0, kWarmup = 1, kMeasure = 2, kStop = 3 };
std::atomic<int> g_phase{kInit};
std::atomic<int> g_ready{0};
std::atomic<int> g_failed{0};

struct Options {
  std::string system;
  int clients = 1;
  double warmup = 1, duration = 5;
  std::string licenses_file;
  bool hot = false;
  std::string pg, admin;
  std::string schema = "coditect";
  int redis_port = 56380;
  int ttl = 360;
  int sample_ms = 100;
};

struct Counters {
  long long cycles = 0, noseat = 0, errors = 0;
  double cycle_us = 0;  // sum of the latencies of the counted cycles
};

std::mutex g_err_mu;
std::set<std::string> g_errs;
void note_error(const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_err_mu);
  if (g_errs.size() < 8) g_errs.insert(msg);
}

[[noreturn]] void die(const std::string& msg) {
  fprintf(stderr, "seats_driver: %s\n", msg.c_str());
  exit(2);
}

std::vector<License> read_licenses(const std::string& file) {
  std::ifstream in(file);
  if (!in) die("cannot read " + file);
  std::vector<License> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream f(line);
    License l;
    std::string seats;
    std::getline(f, l.key, '\t');
    std::getline(f, l.tenant, '\t');
    std::getline(f, l.user, '\t');
    std::getline(f, seats, '\t');
    l.seats = atoi(seats.c_str());
    if (l.key.empty() || l.seats < 1) die("bad line in " + file + ": " + line);
    out.push_back(l);
  }
  if (out.empty()) die("no licenses in " + file);
  return out;
}

// Waits for the start signal; false if the run was called off.
bool wait_start() {
  g_ready.fetch_add(1);
  while (g_phase.load() == kInit) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return g_phase.load() != kStop;
}

// ------------------------------------------------------------------------------------------
// PostgreSQL
// ------------------------------------------------------------------------------------------

struct PgOutcome {
  bool ok = false;
  std::string value;     // first column of the call's first row
  std::string sqlstate;  // on error
  std::string message;
};

class PgClient {
 public:
  PgClient(const std::string& conninfo, const std::string& schema) {
    c_ = PQconnectdb(conninfo.c_str());
    if (PQstatus(c_) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c_));
    prepare("ctx", "SELECT coditect.set_request_context($1::uuid, $2::uuid, 'member')");
    prepare("acquire", ("SELECT " + schema + ".license_acquire($1, $2)").c_str());
    prepare("heartbeat", ("SELECT " + schema + ".license_heartbeat($1::uuid)").c_str());
    prepare("release", ("SELECT " + schema + ".license_release($1::uuid)").c_str());
    if (PQenterPipelineMode(c_) != 1) throw std::runtime_error("cannot enter pipeline mode");
  }
  ~PgClient() { PQfinish(c_); }

  // One transaction: set_request_context(tenant, user, 'member'), then stmt(args), then Sync.
  PgOutcome call(const License& l, const char* stmt, const std::vector<std::string>& args) {
    PgOutcome o;
    const char* ctx[2] = {l.tenant.c_str(), l.user.c_str()};
    std::vector<const char*> p;
    for (const auto& a : args) p.push_back(a.c_str());
    if (!PQsendQueryPrepared(c_, "ctx", 2, ctx, nullptr, nullptr, 0) ||
        !PQsendQueryPrepared(c_, stmt, static_cast<int>(p.size()), p.data(), nullptr, nullptr, 0) ||
        !PQpipelineSync(c_)) {
      o.sqlstate = "08000";
      o.message = PQerrorMessage(c_);
      return o;
    }
    // Results: ctx's, NULL, the call's, NULL, then the Sync's (after the commit).
    int query = 0, nulls_in_a_row = 0;
    bool failed = false;
    for (;;) {
      PGresult* r = PQgetResult(c_);
      if (!r) {
        ++query;
        if (++nulls_in_a_row > 2) {  // connection lost
          o.sqlstate = "08000";
          o.message = PQerrorMessage(c_);
          return o;
        }
        continue;
      }
      nulls_in_a_row = 0;
      ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        break;
      }
      if (st == PGRES_FATAL_ERROR && !failed) {
        failed = true;
        take_error(r, o);
      } else if (st == PGRES_TUPLES_OK && query == 1 && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
        o.value = PQgetvalue(r, 0, 0);
      }
      PQclear(r);
    }
    o.ok = !failed;
    return o;
  }

 private:
  void prepare(const char* name, const char* sql) {
    PGresult* r = PQprepare(c_, name, sql, 0, nullptr);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    if (!ok) throw std::runtime_error(std::string("prepare ") + name + ": " + msg);
  }

  static void take_error(PGresult* r, PgOutcome& o) {
    const char* st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    o.sqlstate = st ? st : "?????";
    o.message = PQresultErrorMessage(r);
    while (!o.message.empty() && o.message.back() == '\n') o.message.pop_back();
  }

  PGconn* c_;
};

std::string json_string_field(const std::string& json, const std::string& field) {
  std::string pat = "\"" + field + "\": \"";
  size_t at = json.find(pat);
  if (at == std::string::npos) return "";
  at += pat.size();
  size_t end = json.find('"', at);
  return end == std::string::npos ? "" : json.substr(at, end - at);
}

void pg_client(const Options& opt, const std::vector<License>& lics, int id, Counters& cnt) {
  std::unique_ptr<PgClient> pg;
  try {
    pg = std::make_unique<PgClient>(opt.pg, opt.schema);
  } catch (const std::exception& e) {
    note_error(std::string("connect: ") + e.what());
    g_failed.fetch_add(1);
    g_ready.fetch_add(1);
    return;
  }
  std::mt19937_64 rng(std::random_device{}() ^ (static_cast<uint64_t>(id) << 32));
  std::uniform_int_distribution<size_t> pick(0, lics.size() - 1);
  if (!wait_start()) return;
  long long n = 0;
  while (g_phase.load(std::memory_order_relaxed) != kStop) {
    const License& l = opt.hot ? lics[0] : lics[pick(rng)];
    std::string hw = "hw-" + std::to_string(id) + "-" + std::to_string(++n) + "-" +
                     std::to_string(rng() % 1000000);
    auto t0 = Clock::now();
    PgOutcome a = pg->call(l, "acquire", {l.key, hw});
    if (!a.ok) {
      bool counted = g_phase.load(std::memory_order_relaxed) == kMeasure;
      if (a.sqlstate == "CD409") {
        if (counted) ++cnt.noseat;
      } else {
        if (counted) ++cnt.errors;
        note_error("acquire: " + a.sqlstate + " " + a.message);
        if (a.sqlstate == "08000") return;
      }
      continue;
    }
    std::string sid = json_string_field(a.value, "session_id");
    if (sid.empty() || json_string_field(a.value, "token").empty()) {
      note_error("acquire: no session_id or token in " + a.value.substr(0, 200));
      if (sid.empty()) {
        if (g_phase.load(std::memory_order_relaxed) == kMeasure) ++cnt.errors;
        continue;
      }
    }
    PgOutcome h = pg->call(l, "heartbeat", {sid});
    if (!h.ok) {
      note_error("heartbeat: " + h.sqlstate + " " + h.message);
    } else if (json_string_field(h.value, "token").empty()) {
      h.ok = false;
      note_error("heartbeat: no token in " + h.value.substr(0, 200));
    }
    PgOutcome r = pg->call(l, "release", {sid});  // always, so that no seat is left held
    if (!r.ok) note_error("release: " + r.sqlstate + " " + r.message);
    if (g_phase.load(std::memory_order_relaxed) == kMeasure) {
      if (h.ok && r.ok) {
        ++cnt.cycles;
        cnt.cycle_us += std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      } else {
        ++cnt.errors;
      }
    }
  }
}

struct Sample {
  long long samples = 0, violations = 0, mismatches = 0, max_held = 0;
  long long final_violations = -1, final_active = -1, final_mismatches = -1;
};

// Per license: active sessions (after zombies are excluded: status = 'active') against
// seats_total, and the trigger's counter seats_in_use against both; one snapshot per query.
const char* kPgCheck = R"SQL(
SELECT count(*) FILTER (WHERE coalesce(a.n, 0) > l.seats_total OR l.seats_in_use > l.seats_total),
       coalesce(max(a.n), 0),
       count(*) FILTER (WHERE l.seats_in_use <> coalesce(a.n, 0)),
       coalesce(sum(a.n), 0)
  FROM coditect.licenses l
  LEFT JOIN (SELECT tenant_id, license_id, count(*) AS n FROM coditect.license_sessions
              WHERE status = 'active' GROUP BY tenant_id, license_id) a
         ON a.tenant_id = l.tenant_id AND a.license_id = l.id)SQL";

bool pg_check(PGconn* c, long long v[4]) {
  PGresult* r = PQexec(c, kPgCheck);
  bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
  if (ok)
    for (int i = 0; i < 4; ++i) v[i] = atoll(PQgetvalue(r, 0, i));
  else
    note_error(std::string("sampler: ") + PQresultErrorMessage(r));
  PQclear(r);
  return ok;
}

// ------------------------------------------------------------------------------------------
// Redis
// ------------------------------------------------------------------------------------------

// KEYS: lic:<key> (hash: seats), lic:<key>:s (zset: session -> last heartbeat, ms),
//       lic:<key>:hw (hash: hardware id -> session). ARGV: hardware id, ttl (s), license key.
// Answer: {session id, seats used, seats total}, or nil when no seat is free.
const char* kAcquire = R"LUA(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local seats = tonumber(redis.call('HGET', KEYS[1], 'seats'))
if not seats then return redis.error_reply('CD404 unknown license') end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl * 1000)
local sid = redis.call('HGET', KEYS[3], ARGV[1])
if sid and redis.call('ZSCORE', KEYS[2], sid) then
  redis.call('ZADD', KEYS[2], 'XX', now, sid)
  redis.call('EXPIRE', 'sess:' .. sid, ttl)
  return {sid, redis.call('ZCARD', KEYS[2]), seats}
end
local used = redis.call('ZCARD', KEYS[2])
if used >= seats then return false end
sid = tostring(redis.call('INCR', 'seq'))
redis.call('ZADD', KEYS[2], now, sid)
redis.call('HSET', KEYS[3], ARGV[1], sid)
redis.call('HSET', 'sess:' .. sid, 'lic', ARGV[3], 'hw', ARGV[1])
redis.call('EXPIRE', 'sess:' .. sid, ttl)
return {sid, used + 1, seats}
)LUA";

// KEYS: sess:<sid>. ARGV: session id, ttl (s). Answer as acquire's, nil if the session is
// unknown or lapsed.
const char* kHeartbeat = R"LUA(
local s = redis.call('HMGET', KEYS[1], 'lic', 'hw')
if not s[1] then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local z = 'lic:' .. s[1] .. ':s'
redis.call('ZREMRANGEBYSCORE', z, '-inf', now - ttl * 1000)
if not redis.call('ZSCORE', z, ARGV[1]) then return false end
redis.call('ZADD', z, 'XX', now, ARGV[1])
redis.call('EXPIRE', KEYS[1], ttl)
return {ARGV[1], redis.call('ZCARD', z), tonumber(redis.call('HGET', 'lic:' .. s[1], 'seats'))}
)LUA";

// KEYS: sess:<sid>. ARGV: session id. Answer 1 if released, 0 if there was nothing to release.
const char* kRelease = R"LUA(
local s = redis.call('HMGET', KEYS[1], 'lic', 'hw')
if not s[1] then return 0 end
redis.call('ZREM', 'lic:' .. s[1] .. ':s', ARGV[1])
local h = 'lic:' .. s[1] .. ':hw'
if redis.call('HGET', h, s[2]) == ARGV[1] then redis.call('HDEL', h, s[2]) end
redis.call('DEL', KEYS[1])
return 1
)LUA";

// ARGV: ttl (s), then the license keys to check (none: all of set `licenses`). Expired sessions
// removed, then per license ZCARD against seats. Answer {violations, max held, total held}.
const char* kCheck = R"LUA(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local keys = {}
if #ARGV > 1 then for i = 2, #ARGV do keys[#keys + 1] = ARGV[i] end
else keys = redis.call('SMEMBERS', 'licenses') end
local viol, maxheld, total = 0, 0, 0
for _, k in ipairs(keys) do
  local z = 'lic:' .. k .. ':s'
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now - ttl * 1000)
  local n = redis.call('ZCARD', z)
  if n > tonumber(redis.call('HGET', 'lic:' .. k, 'seats')) then viol = viol + 1 end
  if n > maxheld then maxheld = n end
  total = total + n
end
return {viol, maxheld, total}
)LUA";

redisContext* redis_connect(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (!c || c->err)
    throw std::runtime_error(std::string("redis connect: ") + (c ? c->errstr : "out of memory"));
  return c;
}

std::string redis_load_script(redisContext* c, const char* lua) {
  redisReply* r = static_cast<redisReply*>(redisCommand(c, "SCRIPT LOAD %s", lua));
  if (!r || r->type != REDIS_REPLY_STRING)
    die(std::string("SCRIPT LOAD failed: ") + (r ? r->str : c->errstr));
  std::string sha = r->str;
  freeReplyObject(r);
  return sha;
}

struct RedisShas {
  std::string acquire, heartbeat, release, check;
};

void redis_client(const Options& opt, const std::vector<License>& lics, const RedisShas& sha,
                  int id, Counters& cnt) {
  redisContext* c;
  try {
    c = redis_connect(opt.redis_port);
  } catch (const std::exception& e) {
    note_error(e.what());
    g_failed.fetch_add(1);
    g_ready.fetch_add(1);
    return;
  }
  std::mt19937_64 rng(std::random_device{}() ^ (static_cast<uint64_t>(id) << 32));
  std::uniform_int_distribution<size_t> pick(0, lics.size() - 1);
  std::string ttl = std::to_string(opt.ttl);
  if (!wait_start()) {
    redisFree(c);
    return;
  }
  long long n = 0;
  while (g_phase.load(std::memory_order_relaxed) != kStop) {
    const License& l = opt.hot ? lics[0] : lics[pick(rng)];
    std::string hw = "hw-" + std::to_string(id) + "-" + std::to_string(++n) + "-" +
                     std::to_string(rng() % 1000000);
    std::string k1 = "lic:" + l.key, k2 = k1 + ":s", k3 = k1 + ":hw";
    auto t0 = Clock::now();
    redisReply* a = static_cast<redisReply*>(
        redisCommand(c, "EVALSHA %s 3 %s %s %s %s %s %s", sha.acquire.c_str(), k1.c_str(),
                     k2.c_str(), k3.c_str(), hw.c_str(), ttl.c_str(), l.key.c_str()));
    bool counted = g_phase.load(std::memory_order_relaxed) == kMeasure;
    if (!a) {
      note_error(std::string("acquire: ") + c->errstr);
      if (counted) ++cnt.errors;
      break;
    }
    if (a->type == REDIS_REPLY_NIL) {
      freeReplyObject(a);
      if (counted) ++cnt.noseat;
      continue;
    }
    if (a->type != REDIS_REPLY_ARRAY || a->elements != 3 ||
        a->element[0]->type != REDIS_REPLY_STRING) {
      note_error(std::string("acquire: ") +
                 (a->type == REDIS_REPLY_ERROR ? a->str : "unexpected reply"));
      freeReplyObject(a);
      if (counted) ++cnt.errors;
      continue;
    }
    std::string sid = a->element[0]->str;
    freeReplyObject(a);
    std::string sk = "sess:" + sid;
    redisReply* h = static_cast<redisReply*>(redisCommand(
        c, "EVALSHA %s 1 %s %s %s", sha.heartbeat.c_str(), sk.c_str(), sid.c_str(), ttl.c_str()));
    bool h_ok = h && h->type == REDIS_REPLY_ARRAY;
    if (!h_ok)
      note_error(std::string("heartbeat: ") +
                 (h && h->type == REDIS_REPLY_ERROR ? h->str : "failed"));
    if (h) freeReplyObject(h);
    redisReply* r = static_cast<redisReply*>(
        redisCommand(c, "EVALSHA %s 1 %s %s", sha.release.c_str(), sk.c_str(), sid.c_str()));
    bool r_ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (!r_ok)
      note_error(std::string("release: ") +
                 (r && r->type == REDIS_REPLY_ERROR ? r->str : "failed"));
    if (r) freeReplyObject(r);
    if (g_phase.load(std::memory_order_relaxed) == kMeasure) {
      if (h_ok && r_ok) {
        ++cnt.cycles;
        cnt.cycle_us += std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      } else {
        ++cnt.errors;
      }
    }
    if (!h || !r) break;  // connection lost
  }
  redisFree(c);
}

bool redis_check(redisContext* c, const Options& opt, const std::vector<License>& lics,
                 const RedisShas& sha, long long v[3]) {
  std::vector<std::string> args = {"EVALSHA", sha.check, "0", std::to_string(opt.ttl)};
  if (opt.hot) args.push_back(lics[0].key);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
    lens.push_back(a.size());
  }
  redisReply* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3;
  if (ok)
    for (int i = 0; i < 3; ++i) v[i] = r->element[i]->integer;
  else
    note_error(std::string("sampler: ") + (r && r->type == REDIS_REPLY_ERROR ? r->str : "failed"));
  if (r) freeReplyObject(r);
  return ok;
}

// ------------------------------------------------------------------------------------------

int load_redis(int port, const std::string& file) {
  std::vector<License> lics = read_licenses(file);
  redisContext* c = redis_connect(port);
  freeReplyObject(redisCommand(c, "FLUSHALL"));
  for (const auto& l : lics) {
    redisAppendCommand(c, "HSET lic:%s seats %d", l.key.c_str(), l.seats);
    redisAppendCommand(c, "SADD licenses %s", l.key.c_str());
  }
  for (size_t i = 0; i < 2 * lics.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(c, &r) != REDIS_OK) die(std::string("load: ") + c->errstr);
    freeReplyObject(r);
  }
  redisFree(c);
  printf("loaded %zu licenses into Redis\n", lics.size());
  return 0;
}

int run(const Options& opt) {
  std::vector<License> lics = read_licenses(opt.licenses_file);
  const bool pg = opt.system == "pg";
  if (!pg && opt.system != "redis") die("system must be pg or redis");

  RedisShas sha;
  PGconn* admin = nullptr;
  redisContext* rc = nullptr;
  if (pg) {
    admin = PQconnectdb(opt.admin.c_str());
    if (PQstatus(admin) != CONNECTION_OK)
      die(std::string("admin connect: ") + PQerrorMessage(admin));
  } else {
    rc = redis_connect(opt.redis_port);
    sha = {redis_load_script(rc, kAcquire), redis_load_script(rc, kHeartbeat),
           redis_load_script(rc, kRelease), redis_load_script(rc, kCheck)};
  }

  std::vector<Counters> counters(opt.clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < opt.clients; ++i) {
    if (pg)
      threads.emplace_back(pg_client, std::cref(opt), std::cref(lics), i + 1,
                           std::ref(counters[i]));
    else
      threads.emplace_back(redis_client, std::cref(opt), std::cref(lics), std::cref(sha), i + 1,
                           std::ref(counters[i]));
  }
  auto connect_deadline = Clock::now() + std::chrono::seconds(60);
  while (g_ready.load() < opt.clients && Clock::now() < connect_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (g_failed.load() > 0 || g_ready.load() < opt.clients) {
    g_phase = kStop;
    for (auto& t : threads) t.join();
    for (const auto& e : g_errs) fprintf(stderr, "seats_driver: %s\n", e.c_str());
    die("not all clients could connect");
  }

  // The sampler runs from the start of the warm-up to the end of the run.
  Sample s;
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling.load()) {
      long long v[4] = {0, 0, 0, 0};
      bool ok = pg ? pg_check(admin, v) : redis_check(rc, opt, lics, sha, v);
      if (ok) {
        ++s.samples;
        s.violations += v[0];
        s.max_held = std::max(s.max_held, v[1]);
        if (pg) s.mismatches += v[2];
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(opt.sample_ms));
    }
  });

  g_phase = kWarmup;
  std::this_thread::sleep_for(std::chrono::duration<double>(opt.warmup));
  auto t0 = Clock::now();
  g_phase = kMeasure;
  std::this_thread::sleep_for(std::chrono::duration<double>(opt.duration));
  g_phase = kStop;
  auto t1 = Clock::now();
  // Every client finishes the cycle it is in (releasing its seat), then stops.
  std::atomic<bool> joined{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 600 && !joined.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!joined.load()) {
      fprintf(stderr, "seats_driver: clients did not stop within 60 s\n");
      std::_Exit(2);
    }
  });
  for (auto& t : threads) t.join();
  joined = true;
  watchdog.join();
  sampling = false;
  sampler.join();

  // After the run: one more check; every seat must have been given back.
  long long v[4] = {0, 0, 0, 0};
  if (pg ? pg_check(admin, v) : redis_check(rc, opt, lics, sha, v)) {
    s.final_violations = v[0];
    s.max_held = std::max(s.max_held, v[1]);
    s.final_mismatches = pg ? v[2] : 0;
    s.final_active = pg ? v[3] : v[2];
  }
  if (admin) PQfinish(admin);
  if (rc) redisFree(rc);

  Counters total;
  for (const auto& c : counters) {
    total.cycles += c.cycles;
    total.noseat += c.noseat;
    total.errors += c.errors;
    total.cycle_us += c.cycle_us;
  }
  double secs = std::chrono::duration<double>(t1 - t0).count();
  for (const auto& e : g_errs) fprintf(stderr, "seats_driver: %s\n", e.c_str());
  printf(
      "result secs=%.3f cycles=%lld noseat=%lld errors=%lld cycle_us=%.0f samples=%lld "
      "violations=%lld "
      "max_held=%lld mismatches=%lld final_violations=%lld final_mismatches=%lld leftover=%lld\n",
      secs, total.cycles, total.noseat, total.errors, total.cycle_us, s.samples, s.violations,
      s.max_held, s.mismatches, s.final_violations, s.final_mismatches, s.final_active);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && std::string(argv[1]) == "load-redis") return load_redis(atoi(argv[2]), argv[3]);
  if (argc < 3 || std::string(argv[1]) != "run") {
    fprintf(stderr, "usage: seats_driver load-redis PORT FILE | run pg|redis [options]\n");
    return 2;
  }
  Options opt;
  opt.system = argv[2];
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--clients")
      opt.clients = std::stoi(next());
    else if (a == "--warmup")
      opt.warmup = std::stod(next());
    else if (a == "--duration")
      opt.duration = std::stod(next());
    else if (a == "--licenses")
      opt.licenses_file = next();
    else if (a == "--hot")
      opt.hot = true;
    else if (a == "--pg")
      opt.pg = next();
    else if (a == "--admin")
      opt.admin = next();
    else if (a == "--schema")
      opt.schema = next();
    else if (a == "--redis-port")
      opt.redis_port = std::stoi(next());
    else if (a == "--ttl")
      opt.ttl = std::stoi(next());
    else if (a == "--sample-ms")
      opt.sample_ms = std::stoi(next());
    else
      die("unknown option " + a);
  }
  if (opt.clients < 1 || opt.licenses_file.empty()) die("--clients and --licenses are required");
  return run(opt);
}
