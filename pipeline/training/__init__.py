"""What every training stage shares, below the stage scripts (`alignpipe.stages`):

- configs.py: recipe parsing: TRL's TrlParser + DataArguments, CPU precision, clear errors
- stage.py: the shared steps: start (seed, run record) ... finish (train, evaluate, save, record, card, push)
- rewards.py: the reward functions GRPO/RLOO recipes name (task_correctness, safety, ...)
- ppo.py: PPO's data, its four models, TRL's PPOTrainer adapted to the shared Trainer interface, its held-out
  comparison
"""
