import type { DumpReader } from '../store/dump.js';
import type { Seq } from '../store/store.js';
import { type DumpCounts, encodeEnd, encodeHeader, encodeRecord, zeroCounts } from './dump-format.js';
import type { TextSink } from './text-sink.js';

export interface DumpSummary {
  readonly releaseSeq: Seq;
  readonly counts: DumpCounts;
}

/**
 * Writes one consistent snapshot of the database as an export file: the header, every record
 * page by page (one write per page, each waiting for the sink), then the end record.
 */
export async function exportDump(reader: DumpReader, sink: TextSink): Promise<DumpSummary> {
  return reader.read(async (snapshot) => {
    const counts = zeroCounts();
    await sink.write(`${encodeHeader({ releaseSeq: snapshot.releaseSeq })}\n`);
    for await (const page of snapshot.records()) {
      let text = '';
      for (const record of page) {
        text += `${encodeRecord(record)}\n`;
        counts[record.type] += 1;
      }
      await sink.write(text);
    }
    await sink.write(`${encodeEnd(counts)}\n`);
    return { releaseSeq: snapshot.releaseSeq, counts };
  });
}
