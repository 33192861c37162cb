// grpc.reflection.v1 (and v1alpha, the same protocol under its older name) served from the
// FileDescriptorProtos embedded in the protobuf-es generated code. We do not use @grpc/reflection: fed from
// proto-loader it drops file dependencies (grpc/grpc-node#2595), which breaks `buf curl` and grpcurl on any
// service whose messages live in an imported file. The generated GenFiles keep `.dependencies`.
import {
  create,
  type DescEnum,
  type DescFile,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import {
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
} from '@cordum/protocol';
import { type handleBidiStreamingCall, status as Status } from '@grpc/grpc-js';

export type ReflectionRegistry = {
  /** A served service: listed by list_services; its file and transitive imports become resolvable. */
  addService(typeName: string, file: DescFile): void;
  /** The ServerReflectionInfo handler (v1 and v1alpha alike: the messages are wire-identical). */
  readonly handler: handleBidiStreamingCall<Buffer, Buffer>;
};

type ResponseBody = NonNullable<MessageInitShape<typeof ServerReflectionResponseSchema>['messageResponse']>;

const fileName = (file: DescFile): string => file.proto.name;

export function createReflectionRegistry(): ReflectionRegistry {
  const services: string[] = [];
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const messageTypes = new Set<string>();
  // extendee type name -> extension number -> declaring file
  const extensions = new Map<string, Map<number, DescFile>>();
  const encoded = new Map<string, Uint8Array>();

  const indexEnum = (e: DescEnum, file: DescFile): void => {
    symbols.set(e.typeName, file);
    // Enum values are scoped as siblings of their enum (C++ scoping rules), not inside it.
    const scope = e.typeName.slice(0, e.typeName.length - e.name.length);
    for (const v of e.values) symbols.set(scope + v.name, file);
  };

  const indexMessage = (m: DescMessage, file: DescFile): void => {
    symbols.set(m.typeName, file);
    messageTypes.add(m.typeName);
    for (const f of m.fields) symbols.set(`${m.typeName}.${f.name}`, file);
    for (const o of m.oneofs) symbols.set(`${m.typeName}.${o.name}`, file);
    for (const e of m.nestedEnums) indexEnum(e, file);
    for (const n of m.nestedMessages) indexMessage(n, file);
    for (const x of m.nestedExtensions) indexExtension(x.typeName, x.extendee.typeName, x.number, file);
  };

  const indexExtension = (typeName: string, extendee: string, num: number, file: DescFile): void => {
    symbols.set(typeName, file);
    let byNumber = extensions.get(extendee);
    if (byNumber === undefined) {
      byNumber = new Map();
      extensions.set(extendee, byNumber);
    }
    byNumber.set(num, file);
  };

  const addFile = (file: DescFile): void => {
    if (files.has(fileName(file))) return;
    files.set(fileName(file), file);
    for (const m of file.messages) indexMessage(m, file);
    for (const e of file.enums) indexEnum(e, file);
    for (const x of file.extensions) indexExtension(x.typeName, x.extendee.typeName, x.number, file);
    for (const s of file.services) {
      symbols.set(s.typeName, file);
      for (const m of s.methods) symbols.set(`${s.typeName}.${m.name}`, file);
    }
    for (const dep of file.dependencies) addFile(dep);
  };

  const bytesOf = (file: DescFile): Uint8Array => {
    let bytes = encoded.get(fileName(file));
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(fileName(file), bytes);
    }
    return bytes;
  };

  // The requested file always, then its transitive imports not yet sent on this stream (what grpc-go
  // does): clients cache by file name, so resending what they hold only costs bytes.
  const withDependencies = (file: DescFile, sent: Set<string>): ResponseBody => {
    const out: Uint8Array[] = [];
    const queue: DescFile[] = [file];
    for (let current = queue.shift(); current !== undefined; current = queue.shift()) {
      const name = fileName(current);
      if (out.length === 0 || !sent.has(name)) {
        sent.add(name);
        out.push(bytesOf(current));
        queue.push(...current.dependencies);
      }
    }
    return { case: 'fileDescriptorResponse', value: { fileDescriptorProto: out } };
  };

  const error = (code: Status, message: string): ResponseBody => ({
    case: 'errorResponse',
    value: { errorCode: code, errorMessage: message },
  });

  const answer = (req: ServerReflectionRequest, sent: Set<string>): ResponseBody => {
    const r = req.messageRequest;
    switch (r.case) {
      case 'listServices':
        return { case: 'listServicesResponse', value: { service: services.map((name) => ({ name })) } };
      case 'fileByFilename': {
        const file = files.get(r.value);
        return file ? withDependencies(file, sent) : error(Status.NOT_FOUND, `file not found: ${r.value}`);
      }
      case 'fileContainingSymbol': {
        // Some clients send a leading dot (fully qualified in protoc's spelling).
        const name = r.value.startsWith('.') ? r.value.slice(1) : r.value;
        const file = symbols.get(name);
        return file ? withDependencies(file, sent) : error(Status.NOT_FOUND, `symbol not found: ${r.value}`);
      }
      case 'fileContainingExtension': {
        const file = extensions.get(r.value.containingType)?.get(r.value.extensionNumber);
        return file
          ? withDependencies(file, sent)
          : error(
              Status.NOT_FOUND,
              `extension not found: ${r.value.containingType} field ${r.value.extensionNumber}`,
            );
      }
      case 'allExtensionNumbersOfType': {
        if (!messageTypes.has(r.value)) return error(Status.NOT_FOUND, `type not found: ${r.value}`);
        const numbers = [...(extensions.get(r.value)?.keys() ?? [])].sort((a, b) => a - b);
        return { case: 'allExtensionNumbersResponse', value: { baseTypeName: r.value, extensionNumber: numbers } };
      }
      case undefined:
        return error(Status.INVALID_ARGUMENT, 'empty reflection request');
    }
  };

  return {
    addService(typeName, file) {
      if (!services.includes(typeName)) services.push(typeName);
      addFile(file);
    },
    handler(call) {
      const sent = new Set<string>();
      call.on('data', (bytes: Buffer) => {
        let req: ServerReflectionRequest;
        try {
          req = fromBinary(ServerReflectionRequestSchema, bytes);
        } catch {
          call.emit('error', { code: Status.INVALID_ARGUMENT, details: 'malformed ServerReflectionRequest' });
          return;
        }
        const res = create(ServerReflectionResponseSchema, {
          validHost: req.host,
          originalRequest: req,
          messageResponse: answer(req, sent),
        });
        call.write(Buffer.from(toBinary(ServerReflectionResponseSchema, res)));
      });
      call.on('end', () => call.end());
    },
  };
}
