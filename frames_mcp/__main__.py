from frames_mcp.cli import main

main()
