// LineSplitter turns the bytes of a file, fed in chunks of any size, into
// complete lines with the file offsets they span.
//
//   LineSplitter splitter(64 * 1024);
//   splitter.Reset(/*offset=*/0);
//   std::vector<Line> lines;
//   splitter.Feed(chunk, &lines);   // chunk = the bytes at splitter.next_offset()
//
// - A line is handed out only once its '\n' has been fed; the bytes of an
//   unfinished last line are held (see partial_bytes()) until the rest comes.
// - The '\n' and a '\r' just before it are not part of Line::text.
// - Memory is bounded: a line longer than max_line_bytes is handed out in
//   pieces of max_line_bytes; every piece but the last has `cut` set and every
//   piece but the first has `continued` set. The held bytes never exceed
//   max_line_bytes.
//
// Offsets: `start` is the offset of the piece's first byte, `end` the offset
// just past it (past its '\n' when it ends a line): resuming at `end` with
// Reset(end, line.cut) continues exactly after this piece.
//
// Not thread-safe: one owner (the source thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace custos::agent::files {

struct Line {
  std::string text;
  uint64_t start = 0;
  uint64_t end = 0;
  bool cut = false;        // an over-long line continues in the next piece
  bool continued = false;  // this piece continues a cut one
  bool unterminated = false;  // handed out by TakePartial(): the file ended without '\n'
  // Set by MultilineJoiner on records it built.
  uint32_t lines = 1;            // lines joined into this record
  bool multiline_split = false;  // the record hit a multiline bound and goes on in the next one
};

class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Forgets held bytes; the next Feed() starts at `offset`. `mid_line` says
  // that `offset` lies inside a line that was cut (the next piece is marked
  // `continued`).
  void Reset(uint64_t offset, bool mid_line = false);

  // Feeds the bytes found at next_offset(); appends finished lines to `out`.
  void Feed(std::string_view data, std::vector<Line>* out);

  // Hands out the held bytes as a line that never got its '\n' (for a file
  // that will not grow any more); nullopt when nothing is held.
  std::optional<Line> TakePartial();

  uint64_t next_offset() const { return next_offset_; }
  size_t partial_bytes() const { return partial_.size(); }
  size_t max_line_bytes() const { return max_line_bytes_; }

 private:
  void Emit(std::string&& text, uint64_t end, bool cut, std::vector<Line>* out);

  const size_t max_line_bytes_;
  std::string partial_;         // bytes of the unfinished line
  uint64_t line_start_ = 0;     // offset of partial_[0] (or of the next line)
  uint64_t next_offset_ = 0;    // offset of the next byte to feed
  bool continued_ = false;      // the current line continues a cut piece
};

}  // namespace custos::agent::files
