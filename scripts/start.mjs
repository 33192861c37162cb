// `npm start` will run `cordum dev` (every service in one process on the embedded memory backends,
// gateway on :8081) once the gateway issue lands. Until then it says so instead of pretending.
console.log(
  [
    'Cordum (TypeScript) — foundation stage.',
    '',
    'The platform process (`cordum dev`, gateway on http://localhost:8081) is not built yet.',
    'What exists today: @cordum/protocol, @cordum/core, @cordum/bus, @cordum/store and @cordum/testkit.',
    'Run `npm test` to exercise them against real redis-server and nats-server instances.',
  ].join('\n'),
);
