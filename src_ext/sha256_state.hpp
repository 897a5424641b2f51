// PG-free: a SHA-256 computation that can be stopped after any byte and resumed later from a
// small serialised state, so that an upload's whole-file hash is computed chunk by chunk as
// the bytes arrive (bounded memory, nothing re-read at completion). OpenSSL does the hashing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace coditect {

class Sha256State {
 public:
  // Serialised form: "CDS1", the eight chaining words, the bit count (low, high), the number of
  // buffered bytes and the 64-byte block buffer; integers little-endian.
  static constexpr std::size_t kSerializedSize = 4 + 8 * 4 + 3 * 4 + 64;
  static constexpr std::size_t kDigestSize = 32;

  Sha256State();  // the state before any byte

  // A state from its serialised form; nullopt when the bytes are not one (wrong size, magic,
  // or a buffered count beyond a block).
  static std::optional<Sha256State> restore(const std::uint8_t* data, std::size_t size);

  void update(const std::uint8_t* data, std::size_t size);
  std::vector<std::uint8_t> serialize() const;
  // The digest of everything hashed so far; the state itself is left as it is.
  std::array<std::uint8_t, kDigestSize> digest() const;
  // How many bytes have been hashed.
  std::uint64_t bytes() const;

 private:
  std::array<std::uint32_t, 8> h_{};
  std::uint32_t low_bits_ = 0, high_bits_ = 0;
  std::uint32_t buffered_ = 0;
  std::array<std::uint8_t, 64> block_{};
};

}  // namespace coditect
