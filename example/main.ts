/**
 * Runs the example app: `node -r @swc-node/register example/main.ts`
 * (REDIS_URL=redis://127.0.0.1:6379 to coordinate several processes; PORT, default 3000).
 *
 *   curl localhost:3000/users/42/data        # first call loads (≈200 ms), later ones are instant
 *   curl localhost:3000/users/42/status
 *   curl -X DELETE localhost:3000/users/42/loaded
 *   curl localhost:3000/stats
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const redisUrl = process.env.REDIS_URL || undefined; // unset or empty: in-memory
  const app = await NestFactory.create(AppModule.register({ redisUrl }), {
    logger: ['log', 'warn', 'error'],
  });
  app.enableShutdownHooks(); // releases held locks and closes Redis connections on SIGTERM/SIGINT
  await app.listen(Number(process.env.PORT ?? 3000));
  console.log(
    `example listening on ${await app.getUrl()} (${redisUrl ? `redis ${redisUrl}` : 'in-memory store'})`,
  );
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
