from frames_mcp.simulator._server import main

main()
