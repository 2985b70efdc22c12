import { DataMoveError } from '../store/data-move-error.js';
import { DUMP_SECTIONS, type DumpWriter, type NumberedRecord } from '../store/dump.js';
import { COUNT_KEYS, type DumpCounts, zeroCounts } from './dump-format.js';
import type { DumpSummary } from './export-dump.js';
import { parseDumpLine } from './parse-dump-line.js';
import { type Line, readLines } from './read-lines.js';

/** Records handed to the database at a time (one multi-row insert per section in it). */
const BATCH_RECORDS = 500;

/**
 * Reads an export file and loads it through `writer`: each line is parsed and checked as it
 * comes (header first, sections in order, no seq past the release position, the end record's
 * counts matching what came), in batches, so memory stays bounded whatever the file's size.
 * Any problem, in the file or in the database, fails the whole load: nothing is committed.
 */
export async function importDump(
  source: AsyncIterable<Buffer | string>,
  writer: DumpWriter,
  maxLineBytes: number,
): Promise<DumpSummary> {
  const chunks = readLines(source, maxLineBytes)[Symbol.asyncIterator]();
  let buffered: Line[] = [];
  let index = 0;
  const next = async (): Promise<Line | undefined> => {
    while (index >= buffered.length) {
      const read = await chunks.next();
      if (read.done === true) return undefined;
      buffered = read.value;
      index = 0;
    }
    return buffered[index++];
  };

  const first = await next();
  if (first === undefined) throw new DataMoveError('the file is empty: a Broker export starts with its header line', true);
  const head = parseDumpLine(first.text, first.number);
  if (head.kind !== 'header') throw DataMoveError.atLine(1, 'is not the header of a Broker export');
  const releaseSeq = head.header.releaseSeq;
  const counts = zeroCounts();

  async function* batches(): AsyncGenerator<NumberedRecord[]> {
    let batch: NumberedRecord[] = [];
    let section = 0;
    let ended: number | undefined;
    let last = first?.number ?? 1;
    for (let line = await next(); line !== undefined; line = await next()) {
      last = line.number;
      if (ended !== undefined) throw DataMoveError.atLine(line.number, `comes after the end record (line ${ended}): nothing may follow it`);
      if (line.text === '') throw DataMoveError.atLine(line.number, 'is empty');
      const parsed = parseDumpLine(line.text, line.number);
      if (parsed.kind === 'header') throw DataMoveError.atLine(line.number, 'is a second header');
      if (parsed.kind === 'end') {
        checkCounts(parsed.counts, counts, line.number);
        ended = line.number;
        continue;
      }
      const record = parsed.record;
      const at = DUMP_SECTIONS.indexOf(record.type);
      if (at < section) {
        throw DataMoveError.atLine(
          line.number,
          `a ${record.type} record after the ${DUMP_SECTIONS[section]} records: sections come in the order ${DUMP_SECTIONS.join(', ')}`,
        );
      }
      section = at;
      if ((record.type === 'event' || record.type === 'latest') && record.seq !== null && record.seq > releaseSeq) {
        throw DataMoveError.atLine(line.number, `"seq" ${record.seq} is past the release position of the header (${releaseSeq})`);
      }
      counts[record.type] += 1;
      batch.push({ line: line.number, record });
      if (batch.length >= BATCH_RECORDS) {
        yield batch;
        batch = [];
      }
    }
    if (ended === undefined) {
      throw new DataMoveError(`the file ends at line ${last} without its end record: it was cut short`, true);
    }
    if (batch.length > 0) yield batch;
  }

  await writer.load(releaseSeq, batches());
  return { releaseSeq, counts };
}

function checkCounts(declared: DumpCounts, seen: DumpCounts, line: number): void {
  for (const section of DUMP_SECTIONS) {
    if (declared[section] !== seen[section]) {
      throw DataMoveError.atLine(
        line,
        `the end record counts ${declared[section]} ${COUNT_KEYS[section]} but the file holds ${seen[section]}: it is incomplete or was edited`,
      );
    }
  }
}
