/**
 * Runs the fake MCP server (./mcp-server.ts) over stdio. Started by tests as
 * `node --import tsx test/fakes/mcp-stdio.ts` (see `fakeMcpStdioCommand()`).
 * It exits when its stdin closes. Nothing but MCP messages may go to stdout.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createFakeMcpServer } from './mcp-server.js';

await createFakeMcpServer().connect(new StdioServerTransport());
