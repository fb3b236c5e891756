#pragma once
// Internal to store/: small RAII owners of LMDB handles and the mapping of LMDB return codes
// to Trellis errors. Included only by store's .cpp files (it pulls in lmdb.h); the public
// headers (store.h, event.h, records.h) never include it.

#include <lmdb.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.h"

namespace trellis::store::lmdb {

// Throws the Trellis error matching an LMDB / errno return code: MDB_MAP_FULL ->
// MapFullError, ENOSPC/EDQUOT -> DiskFullError, anything else -> InternalError.
[[noreturn]] void throw_error(int rc, std::string_view operation);
inline void check(int rc, std::string_view operation) {
  if (rc != MDB_SUCCESS) throw_error(rc, operation);
}

inline MDB_val to_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view to_view(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

class Env {
 public:
  Env() = default;
  explicit Env(MDB_env* env) : env_(env) {}
  Env(Env&& o) noexcept : env_(o.env_) { o.env_ = nullptr; }
  Env& operator=(Env&& o) noexcept {
    if (this != &o) {
      reset();
      env_ = o.env_;
      o.env_ = nullptr;
    }
    return *this;
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env() { reset(); }
  MDB_env* get() const { return env_; }
  void reset() {
    if (env_ != nullptr) mdb_env_close(env_);
    env_ = nullptr;
  }

 private:
  MDB_env* env_ = nullptr;
};

// A transaction; aborted on destruction unless committed.
class Txn {
 public:
  Txn() = default;
  Txn(MDB_env* env, unsigned flags) {
    check(mdb_txn_begin(env, nullptr, flags, &txn_), "begin transaction");
  }
  // Takes ownership of a transaction begun elsewhere.
  static Txn adopt(MDB_txn* txn) {
    Txn t;
    t.txn_ = txn;
    return t;
  }
  Txn(Txn&& o) noexcept : txn_(o.txn_) { o.txn_ = nullptr; }
  Txn& operator=(Txn&& o) noexcept {
    if (this != &o) {
      abort();
      txn_ = o.txn_;
      o.txn_ = nullptr;
    }
    return *this;
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  MDB_txn* get() const { return txn_; }
  void commit() {
    MDB_txn* t = txn_;
    txn_ = nullptr;  // mdb_txn_commit frees the handle even when it fails
    check(mdb_txn_commit(t), "commit transaction");
  }
  void abort() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }

  std::optional<std::string_view> get(MDB_dbi dbi, std::string_view key) const {
    MDB_val k = to_val(key), v;
    int rc = mdb_get(txn_, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    check(rc, "get");
    return to_view(v);
  }
  void put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0) {
    MDB_val k = to_val(key), v = to_val(value);
    check(mdb_put(txn_, dbi, &k, &v, flags), "put");
  }
  // True when something was deleted.
  bool del(MDB_dbi dbi, std::string_view key) {
    MDB_val k = to_val(key);
    int rc = mdb_del(txn_, dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "delete");
    return true;
  }
  void clear(MDB_dbi dbi) { check(mdb_drop(txn_, dbi, 0), "clear table"); }
  uint64_t entries(MDB_dbi dbi) const {
    MDB_stat st;
    check(mdb_stat(txn_, dbi, &st), "stat table");
    return st.ms_entries;
  }

 private:
  MDB_txn* txn_ = nullptr;
};

// A cursor over one table, positioned with seek()/first() and moved with next().
class Cursor {
 public:
  Cursor(const Txn& txn, MDB_dbi dbi) {
    check(mdb_cursor_open(txn.get(), dbi, &cur_), "open cursor");
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (cur_ != nullptr) mdb_cursor_close(cur_);
  }

  bool first() { return move(MDB_FIRST); }
  bool last() { return move(MDB_LAST); }
  bool next() { return move(MDB_NEXT); }
  bool prev() { return move(MDB_PREV); }
  // Positions at the first key >= key.
  bool seek(std::string_view key) {
    key_ = to_val(key);
    return op(MDB_SET_RANGE);
  }
  std::string_view key() const { return to_view(key_); }
  std::string_view value() const { return to_view(val_); }
  // Deletes the entry under the cursor.
  void del() { check(mdb_cursor_del(cur_, 0), "cursor delete"); }

 private:
  bool move(MDB_cursor_op o) { return op(o); }
  bool op(MDB_cursor_op o) {
    int rc = mdb_cursor_get(cur_, &key_, &val_, o);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "cursor move");
    return true;
  }
  MDB_cursor* cur_ = nullptr;
  MDB_val key_{0, nullptr};
  MDB_val val_{0, nullptr};
};

// ---- key encoding: big-endian integers so that byte order is numeric order -------------------

inline void put_u64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}
inline uint64_t get_u64(std::string_view s, size_t at = 0) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
inline std::string u64_key(uint64_t v) {
  std::string k;
  k.reserve(8);
  put_u64(k, v);
  return k;
}
inline std::string event_key(uint64_t origin, uint64_t seq) {
  std::string k;
  k.reserve(16);
  put_u64(k, origin);
  put_u64(k, seq);
  return k;
}

}  // namespace trellis::store::lmdb
