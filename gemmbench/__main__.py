from gemmbench.cli import main

raise SystemExit(main())
