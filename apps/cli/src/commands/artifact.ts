import { writeFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import type { App } from '../cli/app.js';
import type { CommandHost } from '../cli/host.js';
import { usageError } from '../errors.js';
import { apiPath } from '../gateway/client.js';
import type { ArtifactMetadata, GetArtifactResponse, PutArtifactResponse } from '../gateway/admin-types.js';
import { readBytesArgument } from '../input/read.js';
import { parseLabels } from '../jobs/submit.js';
import { formatLabels, formatTime, renderFields } from '../output/format.js';
import { collect, definedFields, integerParser } from './common.js';

// cordumctl artifact put|get

const ARTIFACTS = '/api/v1/artifacts';
export const RETENTIONS = ['short', 'standard', 'audit'] as const;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.xml': 'application/xml',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.zip': 'application/zip',
};

/** The content type of a file by its extension; unknown (or stdin) is left to the gateway (application/octet-stream). */
export function contentTypeOf(path: string | null): string | undefined {
  return path === null ? undefined : CONTENT_TYPES[extname(path).toLowerCase()];
}

function metaLines(app: App, ptr: string, m: ArtifactMetadata): string[] {
  return renderFields(
    [
      ['pointer', ptr],
      ['content type', m.content_type],
      ['size', `${m.size_bytes} bytes`],
      ['sha256', m.sha256],
      ['retention', m.retention],
      ['labels', formatLabels(m.labels)],
      ['created', formatTime(m.created_at)],
      ['expires', formatTime(m.expires_at)],
    ],
    app.style,
  );
}

export function registerArtifact(program: Command, host: CommandHost): void {
  const artifact = program.command('artifact').description('Artifacts of your tenant: evidence, logs and large payloads behind redis://art: pointers');

  artifact
    .command('put')
    .description('Store a file as an artifact; prints its pointer')
    .argument('<file>', 'the file (path, @path, or - for stdin)')
    .addOption(new Option('--retention <class>', 'short (24 h), standard (7 d, the default) or audit (30 d)').choices(RETENTIONS))
    .option('--content-type <type>', 'default: from the file extension, else application/octet-stream')
    .option('--labels <labels>', 'labels: key=value,… or a JSON object (repeatable)', collect)
    .addOption(new Option('--max-bytes <n>', 'refuse (413, exit 2) above this size').argParser(integerParser('--max-bytes', 0)))
    .action((file: string, flags: { retention?: string; contentType?: string; labels?: string[]; maxBytes?: number }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const { bytes, path } = await readBytesArgument(file, 'artifact put', { cwd: app.cwd, readStdin: app.readStdin });
        const labels = parseLabels(flags.labels);
        const body = {
          content_base64: Buffer.from(bytes).toString('base64'),
          ...definedFields({ content_type: flags.contentType ?? contentTypeOf(path), retention: flags.retention }),
          ...(Object.keys(labels).length === 0 ? {} : { labels }),
        };
        const res = await (await app.client()).post<PutArtifactResponse>(ARTIFACTS, body, { query: { max_bytes: flags.maxBytes } });
        const m = res.metadata;
        // The pointer alone on stdout (PTR=$(cordumctl artifact put f)); what was stored on stderr.
        if (app.format === 'table') app.info(`stored ${m.size_bytes} bytes (${m.content_type}, retention ${m.retention}, expires ${formatTime(m.expires_at)})`);
        app.print(res, () => [res.artifact_ptr]);
      }),
    );

  artifact
    .command('get')
    .description('An artifact: its content on stdout (or --out FILE); -o json|yaml gives the metadata with content_base64')
    .argument('<pointer>', 'redis://art:<id> or the bare id')
    .option('--out <file>', 'write the content to this file and print the metadata')
    .action((ptr: string, flags: { out?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        if (flags.out === '') throw usageError('--out needs a file name');
        const res = await (await app.client()).get<GetArtifactResponse>(apiPath(ARTIFACTS, ptr));
        const bytes = Buffer.from(res.content_base64, 'base64');
        if (flags.out !== undefined) {
          const path = resolve(app.cwd, flags.out);
          try {
            await writeFile(path, bytes);
          } catch (err) {
            throw usageError(`--out: cannot write ${path}: ${(err as Error).message}`);
          }
          const { content_base64: _content, ...meta } = res;
          app.print({ ...meta, path }, () => [`${bytes.length} bytes written to ${path}`, ...metaLines(app, res.artifact_ptr, res.metadata)]);
          return;
        }
        if (app.format === 'table') app.terminal.outRaw(bytes);
        else app.print(res, () => []);
      }),
    );
}
