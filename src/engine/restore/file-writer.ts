import { ftruncateSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';

const writeAsync = promisify(write);

/**
 * Writes a file's data, stored without its holes, at the file offsets it came from: each hole
 * is skipped over (left unwritten, so it stays a hole) and the file is extended to its full
 * size at the end. Without holes the writes are simply sequential.
 */
export class FileWriter {
  private position = 0;
  private nextHole = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly holes: readonly [number, number][] = [],
  ) {
    this.skipHoles();
  }

  writeSync(data: Buffer): void {
    for (const [piece, position] of this.pieces(data)) {
      let written = 0;
      while (written < piece.length) written += writeSync(this.fd, piece, written, piece.length - written, position + written);
    }
  }

  async write(data: Buffer): Promise<void> {
    for (const [piece, position] of this.pieces(data)) {
      let written = 0;
      while (written < piece.length) {
        written += (await writeAsync(this.fd, piece, written, piece.length - written, position + written)).bytesWritten;
      }
    }
  }

  /** Gives the file its full length: a trailing hole is made by extending, not by writing. */
  finish(): void {
    if (this.holes.length > 0) ftruncateSync(this.fd, this.size);
  }

  /** Splits `data` at the holes it spans, with the file offset of each piece. */
  private pieces(data: Buffer): [Buffer, number][] {
    const pieces: [Buffer, number][] = [];
    let offset = 0;
    while (offset < data.length) {
      const hole = this.holes[this.nextHole];
      const room = hole ? hole[0] - this.position : data.length - offset;
      const length = Math.min(room, data.length - offset);
      pieces.push([data.subarray(offset, offset + length), this.position]);
      offset += length;
      this.position += length;
      this.skipHoles();
    }
    return pieces;
  }

  private skipHoles(): void {
    while (this.nextHole < this.holes.length && this.holes[this.nextHole][0] <= this.position) {
      const [start, length] = this.holes[this.nextHole++];
      this.position = Math.max(this.position, start + length);
    }
  }
}
