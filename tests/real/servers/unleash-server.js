// Starts a real Unleash server for the integration tests (tests/real/servers/unleash.rs).
//
// Everything comes from the environment the harness sets:
//   UNLEASH_DIR             where scripts/install-unleash put the npm package
//   PROMPUSH_UNLEASH_PORT   HTTP port (bound on 127.0.0.1 only)
//   PROMPUSH_PG_PORT        PostgreSQL port on 127.0.0.1 (trust auth, user and db "postgres")
//   PROMPUSH_CLIENT_TOKEN   a backend ("client") API token to create, e.g. default:development.<secret>
//   PROMPUSH_ADMIN_TOKEN    an admin API token to create, e.g. *:*.<secret>
//   PROMPUSH_UNLEASH_LOG    log level (default "warn")
//
// The server exits when its standard input closes, so it does not outlive the test process
// that started it (the harness holds the other end of a pipe). Nothing phones home: the
// version check and telemetry are off (the network is closed anyway).
'use strict';

const path = require('path');
const { createRequire } = require('module');
const { pathToFileURL } = require('url');

function required(name) {
    const value = process.env[name];
    if (!value) {
        console.error(`unleash-server.js: ${name} is not set`);
        process.exit(2);
    }
    return value;
}

const unleashDir = required('UNLEASH_DIR');
const port = Number(required('PROMPUSH_UNLEASH_PORT'));
const pgPort = Number(required('PROMPUSH_PG_PORT'));
const clientToken = required('PROMPUSH_CLIENT_TOKEN');
const adminToken = required('PROMPUSH_ADMIN_TOKEN');

// Read when unleash-server's modules load (module-level defaults), so set them first.
// `telemetry: false` alone is not enough: create-config.js ORs it with SEND_TELEMETRY,
// which defaults to true.
process.env.SEND_TELEMETRY = 'false';
process.env.CHECK_VERSION = 'false';
process.env.NODE_ENV = process.env.NODE_ENV || 'production';

// Exit (and so free the port and the database) when the harness goes away.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

async function main() {
    // unleash-server 7 is an ES module living outside this repository: resolve it from
    // the install directory and import it by file URL.
    const resolve = createRequire(path.join(unleashDir, 'package.json')).resolve;
    const entry = resolve('unleash-server');
    const unleash = await import(pathToFileURL(entry).href);
    await unleash.start({
        db: {
            host: '127.0.0.1',
            port: pgPort,
            user: 'postgres',
            password: 'postgres', // unused: the cluster trusts loopback connections
            database: 'postgres',
            ssl: false,
            pool: { min: 0, max: 4 },
        },
        server: {
            host: '127.0.0.1',
            port,
            gracefulShutdownEnable: false,
            enableRequestLogger: false,
        },
        logLevel: process.env.PROMPUSH_UNLEASH_LOG || 'warn',
        versionCheck: { enable: false },
        telemetry: false,
        authentication: {
            // open-source: every /api/client call needs a valid API token.
            type: 'open-source',
            enableApiToken: true,
            createAdminUser: false,
            initApiTokens: [
                {
                    environment: 'development',
                    projects: ['default'],
                    secret: clientToken,
                    type: 'backend',
                    tokenName: 'prompush-client',
                },
                {
                    environment: '*',
                    projects: ['*'],
                    secret: adminToken,
                    type: 'admin',
                    tokenName: 'prompush-admin',
                },
            ],
        },
        // Without it custom metrics are accepted but not shown on
        // /internal-backstage/prometheus (lib/routes/backstage.js).
        experimental: { flags: { customMetrics: true } },
    });
    console.error(`unleash-server.js: listening on 127.0.0.1:${port}`);
}

main().catch((err) => {
    console.error('unleash-server.js: start failed:', err && err.stack ? err.stack : err);
    process.exit(1);
});
